"""File operations for local paths and object stores alike.

A path with a scheme (`gs://bucket/run`, `s3://...`) goes through `etils.epath`, whose backend
(fsspec's gcsfs, or TensorFlow's gfile) must be installed; a plain path uses `os` directly, so
local runs keep their atomic renames and appends. Object stores have neither: a whole object
is written at once (readers see the old or the new one, never half), and an append rewrites
the object (`AppendLog`).
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid


def is_remote(path) -> bool:
  """True for `scheme://...` paths other than `file://`."""
  p = str(path)
  return "://" in p and not p.startswith("file://")


_AVAILABLE: set[str] = set()  # schemes whose filesystem was found


def _epath(path):
  """epath.Path of a remote path; a scheme without its filesystem package is one ValueError."""
  from etils import epath

  scheme = str(path).split("://", 1)[0]
  if scheme not in _AVAILABLE:
    import fsspec  # epath's backend for gs://, s3://, ...

    try:
      fsspec.get_filesystem_class("gcs" if scheme == "gs" else scheme)
    except (ImportError, ValueError) as e:
      raise ValueError(f"{path}: no filesystem for {scheme}:// on this machine ({e}); for gs:// "
                       "pip install -e '.[gcs]' (gcsfs)") from None
    _AVAILABLE.add(scheme)
  return epath.Path(str(path))


def join(base, *parts) -> str:
  return posixpath.join(str(base), *parts) if is_remote(base) else os.path.join(base, *parts)


def abspath(path) -> str:
  """Local paths made absolute; remote ones as they are."""
  return str(path) if is_remote(path) else os.path.abspath(path)


def exists(path) -> bool:
  return _epath(path).exists() if is_remote(path) else os.path.exists(path)


def isfile(path) -> bool:
  return _epath(path).is_file() if is_remote(path) else os.path.isfile(path)


def isdir(path) -> bool:
  return _epath(path).is_dir() if is_remote(path) else os.path.isdir(path)


def listdir(path) -> list[str]:
  """The names in folder `path` (sorted); [] when it does not exist."""
  if not isdir(path):
    return []
  if is_remote(path):
    return sorted(p.name for p in _epath(path).iterdir())
  return sorted(os.listdir(path))


def makedirs(path) -> None:
  if is_remote(path):
    _epath(path).mkdir(parents=True, exist_ok=True)
  else:
    os.makedirs(path, exist_ok=True)


def size(path) -> int:
  return stat(path)[0]


def stat(path) -> tuple[int, int]:
  """(size in bytes, modification time in whole seconds)."""
  if is_remote(path):
    st = _epath(path).stat()
    return int(st.length), int(st.mtime)
  st = os.stat(path)
  return int(st.st_size), int(st.st_mtime)


def read_bytes(path) -> bytes:
  if is_remote(path):
    return _epath(path).read_bytes()
  with open(path, "rb") as f:
    return f.read()


def read_text(path) -> str:
  return read_bytes(path).decode("utf-8")


def write_bytes(path, data: bytes) -> None:
  """Atomic: readers see the old or the new content, never half of it (a local file is written
  beside and renamed; an object store writes the whole object at once)."""
  if is_remote(path):
    _epath(path).write_bytes(data)
    return
  tmp = f"{path}.tmp-{uuid.uuid4().hex}"  # unique across hosts sharing the folder
  with open(tmp, "wb") as f:
    f.write(data)
  os.replace(tmp, path)


def write_text(path, text: str) -> None:
  write_bytes(path, text.encode("utf-8"))


def read_json(path):
  return json.loads(read_text(path))


def write_json(path, obj, indent: int | None = 1) -> None:
  write_text(path, json.dumps(obj, indent=indent))


def copy_to(local_file: str, dest) -> None:
  """Uploads (or copies) one local file to `dest`."""
  if is_remote(dest):
    with open(local_file, "rb") as src, _epath(dest).open("wb") as out:
      while chunk := src.read(1 << 24):
        out.write(chunk)
  else:
    import shutil

    shutil.copyfile(local_file, dest)


def copy_from(src, local_file: str) -> None:
  """Downloads (or copies) `src` into the local file (written beside, then renamed)."""
  tmp = f"{local_file}.tmp-{uuid.uuid4().hex}"
  with _epath(src).open("rb") if is_remote(src) else open(src, "rb") as f, open(tmp, "wb") as out:
    while chunk := f.read(1 << 24):
      out.write(chunk)
  os.replace(tmp, local_file)


def rmtree(path) -> None:
  if is_remote(path):
    _epath(path).rmtree(missing_ok=True)
  else:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


class AppendLog:
  """A text file that grows by lines (metrics.jsonl): appended in place on a local disk;
  on an object store, which cannot append, the lines are kept and the object rewritten at
  each `write` (logged steps are few: hundreds of rows, not millions).

  keep: the lines already in the file that stay (after a resume drops re-run steps); the
  file is rewritten with them first. None keeps the file as it is."""

  def __init__(self, path, keep: list[str] | None = None):
    self.path = str(path)
    self._remote = is_remote(path)
    if keep is not None:
      write_text(self.path, "".join(keep))
    if self._remote:
      self._lines = [read_text(self.path)] if keep is None and isfile(self.path) else list(keep or [])
      self._f = None
    else:
      self._f = open(self.path, "a", encoding="utf-8")

  def write(self, line: str) -> None:
    if self._remote:
      self._lines.append(line)
      write_text(self.path, "".join(self._lines))
    else:
      self._f.write(line)
      self._f.flush()

  def close(self) -> None:
    if self._f is not None:
      self._f.close()
      self._f = None
