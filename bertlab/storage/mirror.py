"""Local copies of remote folders, for what must be a local file.

Token caches and example indices are memory-mapped, and tokenizer libraries read local files,
so a prepared corpus or a tokenizer on `gs://...` is copied once into a local folder keyed by
its address: `$BERTLAB_LOCAL_CACHE` (default: the temporary directory's `bertlab-mirror/`).
A file already there with the remote size and modification time is not fetched again. A folder built here for a remote destination
is uploaded with its completion marker last, then kept as that destination's local copy.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import tempfile

from bertlab.storage import files


def root() -> str:
  return os.environ.get("BERTLAB_LOCAL_CACHE") or os.path.join(tempfile.gettempdir(),
                                                               "bertlab-mirror")


def local_path(remote) -> str:
  """Where the local copy of `remote` lives (nothing is fetched)."""
  r = str(remote).rstrip("/")
  key = hashlib.sha256(r.encode()).hexdigest()[:16]
  return os.path.join(root(), f"{posixpath.basename(r)}-{key}")


def _walk(remote: str, rel: str = ""):
  """Relative paths of every file under the remote folder."""
  for name in files.listdir(files.join(remote, rel) if rel else remote):
    sub = posixpath.join(rel, name) if rel else name
    if files.isdir(files.join(remote, sub)):
      yield from _walk(remote, sub)
    else:
      yield sub


def pull(path, only: list[str] | None = None) -> str:
  """A local folder with the files of folder `path`: `path` itself when it is local, else its
  local copy, brought up to date. `only`: relative paths of the files or subfolders needed
  (default: everything)."""
  if not files.is_remote(path):
    return str(path)
  path = str(path).rstrip("/")
  local = local_path(path)
  wanted = []
  for rel in only if only is not None else [""]:
    src = files.join(path, rel) if rel else path
    if files.isdir(src):
      wanted += [posixpath.join(rel, f) if rel else f for f in _walk(src)]
    elif files.isfile(src):
      wanted.append(rel)
  for rel in wanted:
    dest = os.path.join(local, *rel.split("/"))
    src = files.join(path, rel)
    size, mtime = files.stat(src)
    if os.path.isfile(dest) and files.stat(dest) == (size, mtime):
      continue
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    files.copy_from(src, dest)
    os.utime(dest, (mtime, mtime))  # the copy is current while the object keeps its time
  os.makedirs(local, exist_ok=True)
  return local


def publish(built: str, dest, last: str | None = None) -> None:
  """Moves the local folder `built` to `dest`. Local: one rename (if another process got there
  first, its folder is kept: both were built from the same key). Remote: every file uploaded,
  `last` (the file readers take as the sign of a complete folder) at the end; `built` then
  becomes dest's local copy."""
  if not files.is_remote(dest):
    try:
      os.rename(built, dest)
    except OSError:
      if not os.path.isdir(dest):
        raise
    return
  names = []
  for base, _, fs in os.walk(built):
    names += [os.path.relpath(os.path.join(base, f), built) for f in fs]
  names.sort(key=lambda n: (n == last, n))
  for rel in names:
    target = files.join(str(dest), *rel.split(os.sep))
    files.copy_to(os.path.join(built, rel), target)
    mtime = files.stat(target)[1]
    os.utime(os.path.join(built, rel), (mtime, mtime))  # `built` becomes the current copy
  local = local_path(dest)
  if os.path.isdir(local):
    shutil.rmtree(local, ignore_errors=True)
  os.makedirs(os.path.dirname(local), exist_ok=True)
  try:
    os.rename(built, local)
  except OSError:
    pass  # another process's copy of the same folder is as good
