"""Finding and reading corpus files, local or remote: globs to paths, content fingerprints,
document-aligned byte pieces.

Paths go through `etils.epath` when they name a remote filesystem (`gs://...`), `glob` when
local. Fingerprints hash contents (size + sha256), never paths or modification times, so a
corpus copied elsewhere or re-staged keeps its caches and tokenizer.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import logging
import os
import re
from collections.abc import Sequence

_HASH_BLOCK = 1 << 20
log = logging.getLogger("bertlab.data.corpora")


def cause(e: BaseException) -> str:
  """A file error in a few words (a truncated or fake gzip named as such)."""
  if isinstance(e, EOFError):
    return f"truncated gzip ({type(e).__name__}: {e})"
  if isinstance(e, gzip.BadGzipFile):
    return f"not a gzip file ({e})"
  return f"{type(e).__name__}: {e}"


_HASHES: dict[tuple, list] = {}  # (path, size, mtime_ns) -> [size, sha256]: hash each file once


def content_fingerprint(path: str, byte_range: tuple[int, int] | None = None) -> list:
  """[size, sha256 of the bytes] of one file, or of bytes [start, end) of it (an unreadable
  file: [size or -1, its error])."""
  from etils import epath

  p = epath.Path(path)
  try:
    st = p.stat()
    size, mtime = int(st.length), getattr(st, "mtime", None)
  except OSError as e:
    return [-1, cause(e)]
  start, end = byte_range or (0, size)
  key = (str(path), size, mtime, start, end)
  if key not in _HASHES:
    h = hashlib.sha256()
    try:
      with p.open("rb") as f:
        f.seek(start)
        left = end - start
        while left > 0 and (block := f.read(min(_HASH_BLOCK, left))):
          h.update(block)
          left -= len(block)
      _HASHES[key] = [end - start, h.hexdigest()]
    except OSError as e:
      return [size, cause(e)]
  return _HASHES[key]


def document_boundaries(path: str, piece_bytes: int, doc_per_line: bool) -> list[int]:
  """Byte offsets [0, b1, ..., size] cutting a plain file into pieces of about `piece_bytes`,
  each cut at the start of a line after a blank line (doc_per_line: after any newline), so no
  document is split. Reads a little at each cut, not the file."""
  from etils import epath

  p = epath.Path(path)
  size = int(p.stat().length)
  cuts = [0]
  sep = re.compile(rb"\n" if doc_per_line else rb"\n\r?\n")
  with p.open("rb") as f:
    target = piece_bytes
    while target < size:
      f.seek(target)
      buf, at = b"", target
      while True:
        block = f.read(1 << 16)
        if not block:
          return cuts + [size]
        buf += block
        m = sep.search(buf)
        if m:
          cut = at + m.end()
          break
        keep = min(2, len(buf))  # a separator may straddle two blocks
        at += len(buf) - keep
        buf = buf[len(buf) - keep:]
      if cut >= size:
        break
      if cut > cuts[-1]:
        cuts.append(cut)
      target = max(cut, target) + piece_bytes
  return cuts + [size]


def expand_paths(patterns: Sequence[str], unmatched: list | None = None) -> list[str]:
  """Expands globs (sorted within a pattern, first occurrence kept), linear in the file count.

  A pattern that matches no file (with its likely cause, e.g. an unreadable folder) is appended
  to `unmatched` as [pattern, cause] and skipped with a warning; if no pattern matches anything
  (or `unmatched` is None and one fails), FileNotFoundError names each pattern and cause.
  """
  paths, seen, missing = [], set(), []
  for pat in patterns:
    found = _glob_files(pat)
    if not found:
      missing.append([pat, _why_nothing(pat)])
      continue
    for p in found:
      if p not in seen:
        seen.add(p)
        paths.append(p)
  if missing and (not paths or unmatched is None):
    raise FileNotFoundError(
        "corpus: " + "; ".join(f"{p!r} matches no file ({c})" for p, c in missing)
        + "; expected text files or globs (e.g. 'data/*.txt', 'shard-*.gz')")
  for pat, cause in missing:
    log.warning("corpus: skipping %r: matches no file (%s)", pat, cause)
  if unmatched is not None:
    unmatched.extend(missing)
  return paths


def _glob_files(pat: str) -> list[str]:
  if "://" in pat:  # a remote filesystem: epath globs relative to the part without wildcards
    from etils import epath

    root, rest = _split_magic(pat)
    if not rest:
      return [pat] if epath.Path(pat).is_file() else []
    return sorted(str(p) for p in epath.Path(root).glob(rest) if p.is_file())
  return sorted(p for p in glob.glob(os.path.expanduser(pat), recursive=True) if os.path.isfile(p))


def _split_magic(pat: str) -> tuple[str, str]:
  parts = pat.split("/")
  for i, part in enumerate(parts):
    if glob.has_magic(part):
      return "/".join(parts[:i]), "/".join(parts[i:])
  return pat, ""


def _why_nothing(pat: str) -> str:
  """The deepest folder above the pattern's first wildcard that exists, and whether it can be
  listed: glob itself reports an unreadable folder as 'no match'."""
  root, _ = _split_magic(os.path.expanduser(pat)) if "://" not in pat else (pat, "")
  folder = root if glob.has_magic(pat) else os.path.dirname(root)
  folder = folder or "."
  while folder and not os.path.isdir(folder) and os.path.dirname(folder) != folder:
    folder = os.path.dirname(folder)
  try:
    _listdir(folder)
  except OSError as e:
    return f"folder {folder!r} cannot be listed: {type(e).__name__}: {e}"
  return f"nothing there matches (searched in {folder!r})"


def _listdir(folder: str) -> list[str]:
  return os.listdir(folder)
