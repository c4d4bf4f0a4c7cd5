"""Text corpora as streams of documents (lists of sentences), robust to bad input.

Three sources, one interface (`Corpus.documents()`, `.sentences()`, `.fingerprint()`, `.stats`):
  TextFiles   plain or .gz files and globs; one sentence per line with a blank line between
              documents (google-research/bert's format), or one document per line.
  TfdsCorpus  a TFDS dataset read by `tfds.data_source` (no TensorFlow), one example a document.
  PydocCorpus the built-in offline default: CPython's documentation topics (`pydoc_data.topics`).

Bad input is repaired and counted in `Corpus.stats`, never fatal and never silently lost:
undecodable bytes (replaced by U+FFFD, or the line skipped), control characters (removed), byte
order marks (removed), over-long lines (cut into bounded pieces, at a space where one is near),
empty files and documents (skipped), unreadable files (a truncated or fake `.gz`, a permission
error: the file's remaining text is skipped, with a warning naming the file and the cause), globs
matching nothing while others match (skipped with a warning). A corpus with no usable text raises
ValueError naming its inputs and every file's cause.

Files are read through `etils.epath`, so `gs://...` paths work wherever that backend is installed.
A fingerprint hashes file contents (size + sha256), never paths or modification times: copying a
corpus elsewhere or touching its files keeps its caches and tokenizer.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import gzip
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence

# C0/C1 controls except tab and the line-like ones below, which become a space.
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff]")
_SPACE_LIKE_RE = re.compile("[\r\x0b\x0c\x85]")
# A sentence ends at . ! ? followed by space and anything but a lower-case ASCII letter ("e.g.
# this" stays whole), or at a CJK full stop. Deliberately simple: NSP/SOP segments only need to
# be contiguous runs of text.
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[^\sa-z])|(?<=[。！？])")
MAX_LINE_BYTES = 1 << 16  # ~64 KB: far above any sentence, small enough to bound memory
_HASH_BLOCK = 1 << 20
log = logging.getLogger(__name__)


@dataclasses.dataclass
class CorpusStats:
  """What one pass over a corpus read, and every repair it made (`issues`: reason -> count)."""

  inputs: list[str] = dataclasses.field(default_factory=list)
  files: int = 0
  documents: int = 0
  lines: int = 0  # sentences emitted
  chars: int = 0
  issues: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  bad_files: list[list[str]] = dataclasses.field(default_factory=list)  # [path, cause]

  def to_dict(self) -> dict:
    d = dataclasses.asdict(self)
    d["issues"] = dict(sorted(self.issues.items()))
    return d

  def summary(self) -> str:
    s = (f"corpus: {self.files} files, {self.documents} documents, {self.lines} lines, "
         f"{self.chars} chars")
    if self.issues:
      s += "; repaired/skipped: " + ", ".join(f"{k}={v}" for k, v in sorted(self.issues.items()))
    if self.bad_files:
      s += "; unreadable: " + "; ".join(f"{p} ({c})" for p, c in self.bad_files)
    return s


class Corpus:
  """A re-iterable stream of documents; each pass refreshes `stats`."""

  def __init__(self, split_sentences: bool, max_line_bytes: int = MAX_LINE_BYTES):
    self.split_sentences = split_sentences
    self.max_line_bytes = int(max_line_bytes)
    self.stats = CorpusStats()

  def _documents(self, stats: CorpusStats) -> Iterator[list[str]]:
    raise NotImplementedError

  def _options(self) -> dict:
    return dict(split_sentences=self.split_sentences, max_line_bytes=self.max_line_bytes)

  def fingerprint(self) -> str:
    """A hash of what the corpus reads and how (a cache key)."""
    raise NotImplementedError

  def documents(self) -> Iterator[list[str]]:
    """Yields documents, each a non-empty list of non-empty sentences (str)."""
    stats = CorpusStats(inputs=self.inputs())
    self.stats = stats
    for doc in self._documents(stats):
      stats.documents += 1
      stats.lines += len(doc)
      stats.chars += sum(map(len, doc))
      yield doc
    if stats.documents == 0:
      raise ValueError(f"empty corpus: no usable text in {stats.inputs} ({stats.summary()}); "
                       "expected at least one non-blank line in a readable file")

  def sentences(self) -> Iterator[str]:
    for doc in self.documents():
      yield from doc

  def inputs(self) -> list[str]:
    return [type(self).__name__]

  # Shared cleaning: one decoded line -> zero or more sentences.
  def _clean(self, text: str, stats: CorpusStats) -> list[str]:
    text, n = _CONTROL_RE.subn("", text)
    text, m = _SPACE_LIKE_RE.subn(" ", text)
    if n + m:
      stats.issues["control_chars_removed"] += n + m
    text = text.strip()
    if not text:
      return []
    parts = _SENTENCE_RE.split(text) if self.split_sentences else [text]
    return [p.strip() for p in parts if p.strip()]

  def _cut(self, text: str, stats: CorpusStats) -> list[str]:
    # In-memory texts (TFDS, pydoc) get the same bound as file lines.
    limit = self.max_line_bytes // 4  # chars; a UTF-8 char is at most 4 bytes
    if len(text) <= limit:
      return [text]
    stats.issues["long_lines_cut"] += 1
    pieces = []
    while len(text) > limit:
      cut = text.rfind(" ", limit // 2, limit)
      cut = limit if cut <= 0 else cut + 1
      pieces.append(text[:cut])
      text = text[cut:]
    stats.issues["long_line_pieces"] += len(pieces) + 1
    return pieces + [text]


class TextFiles(Corpus):
  """Plain-text files and globs (".gz" read compressed), in sorted order.

  doc_per_line: each line is a document (blank lines ignored); otherwise each line is a sentence
    and a blank line ends a document. Documents never span files.
  split_sentences: also split lines at sentence ends (default: True iff doc_per_line).
  errors: "replace" (undecodable bytes -> U+FFFD, line counted) or "skip" (line dropped, counted).
  glob: expand the patterns (False: they are file paths, used as given).
  byte_range: (start, end) of the one plain file to read, both at line starts (see
    `document_boundaries`): a piece of a big file.
  """

  def __init__(self, patterns: Sequence[str] | str, *, doc_per_line: bool = False,
               split_sentences: bool | None = None, encoding: str = "utf-8",
               errors: str = "replace", max_line_bytes: int = MAX_LINE_BYTES,
               glob: bool = True, byte_range: tuple[int, int] | None = None):
    super().__init__(doc_per_line if split_sentences is None else split_sentences, max_line_bytes)
    if errors not in ("replace", "skip"):
      raise ValueError(f"errors: expected 'replace' or 'skip', got {errors!r}")
    self.patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    self.doc_per_line, self.encoding, self.errors = doc_per_line, encoding, errors
    self.unmatched: list[list[str]] = []  # [pattern, cause] of globs that matched nothing
    # glob=False: the patterns are file paths taken as they are (a name may hold "[").
    self.paths = expand_paths(self.patterns, unmatched=self.unmatched) if glob else self.patterns
    if byte_range is not None and (len(self.paths) != 1 or self.paths[0].endswith(".gz")):
      raise ValueError(f"byte_range: for one uncompressed file, got {self.paths}")
    self.byte_range = byte_range

  def inputs(self) -> list[str]:
    return list(self.paths)

  def fingerprint(self) -> str:
    files = [content_fingerprint(p, self.byte_range) for p in self.paths]  # paths left out
    opts = dict(self._options(), doc_per_line=self.doc_per_line, encoding=self.encoding,
                errors=self.errors)
    return _hash(dict(kind="text_files", files=files, options=opts))

  def _documents(self, stats):
    for pattern, cause in self.unmatched:
      stats.issues["patterns_matching_nothing"] += 1
      stats.bad_files.append([pattern, cause])
    for path in self.paths:
      stats.files += 1
      n_docs, n_bad = 0, len(stats.bad_files)
      doc, dropped = [], False
      for text, line_end, whole in _guarded(self._lines(path, stats), path, stats):
        if whole and not text.strip():
          if self.doc_per_line:
            continue
          boundary = True  # a blank line ends a document
        else:
          sentences = self._clean(text, stats)
          dropped |= not sentences
          doc.extend(sentences)
          boundary = self.doc_per_line and line_end
        if boundary and (doc or dropped):
          yield from _emit(doc, stats)
          n_docs += bool(doc)
          doc, dropped = [], False
      if doc or dropped:
        yield from _emit(doc, stats)
        n_docs += bool(doc)
      if n_docs == 0 and len(stats.bad_files) == n_bad:  # an unreadable file is counted as such
        stats.issues["empty_files"] += 1

  def _lines(self, path: str, stats: CorpusStats) -> Iterator[tuple[str, bool, bool]]:
    """Yields (text, line_end, whole) per decoded line or piece of an over-long line: line_end
    is False on all but the last piece, whole is True for a line that was not cut."""
    limit = self.max_line_bytes
    start, end = self.byte_range or (0, None)
    with open_binary(path) as f:
      if start:
        f.seek(start)
      carry, in_long, first, pos = b"", False, start == 0, start
      while True:
        if end is not None and pos >= end and not carry:  # ranges end at a line start
          return
        chunk = f.readline(max(limit - len(carry), 1))
        pos += len(chunk)
        raw = carry + chunk
        carry = b""
        if not raw:
          return
        if first and raw.startswith(b"\xef\xbb\xbf") and self.encoding.startswith("utf"):
          raw = raw[3:]
          stats.issues["byte_order_marks_removed"] += 1
        first = False
        was_long = in_long
        line_end = True
        if not raw.endswith(b"\n") and len(raw) >= limit:
          raw, carry = _split_bytes(raw)
          stats.issues["long_lines_cut"] += not in_long
          in_long, line_end = True, False
        else:
          in_long = False
        if was_long or in_long:
          stats.issues["long_line_pieces"] += 1
        raw = raw.rstrip(b"\r\n") if line_end else raw
        try:
          text = raw.decode(self.encoding)
        except UnicodeDecodeError:
          if self.errors == "skip":
            stats.issues["undecodable_lines_skipped"] += 1
            continue
          text = raw.decode(self.encoding, errors="replace")
          stats.issues["undecodable_lines_replaced"] += 1
        yield text, line_end, not (was_long or in_long)


def _split_bytes(raw: bytes) -> tuple[bytes, bytes]:
  """Cuts an over-long line at its last space in the second half, else at a UTF-8 character
  boundary, so that no word or character is split when that can be avoided."""
  cut = raw.rfind(b" ", len(raw) // 2)
  if cut > 0:
    return raw[:cut + 1], raw[cut + 1:]
  cut = len(raw)
  while cut > len(raw) - 4 and (raw[cut - 1] & 0xC0) == 0x80:  # continuation bytes
    cut -= 1
  if cut > 0 and raw[cut - 1] >= 0xC0:  # a lead byte whose character was cut off
    cut -= 1
  return raw[:cut], raw[cut:]


def open_binary(path: str):
  """`path` opened for reading bytes through epath (".gz" decompressed)."""
  from etils import epath

  f = epath.Path(path).open("rb")
  if not path.endswith(".gz"):
    return f
  return _Gzip(f)


class _Gzip(gzip.GzipFile):
  """A GzipFile that also closes the file object under it (GzipFile leaves a given one open)."""

  def __init__(self, raw):
    super().__init__(fileobj=raw, mode="rb")
    self._raw = raw

  def close(self):
    try:
      super().close()
    finally:
      self._raw.close()


_BAD_FILE_ERRORS = (OSError, EOFError, gzip.BadGzipFile)  # BadGzipFile is an OSError; explicit


def _guarded(lines, path: str, stats: CorpusStats):
  """Yields from `lines`; an unreadable file (truncated or fake gzip, permission, I/O error) is
  counted and named, and what follows the error in that file is skipped."""
  try:
    yield from lines
  except _BAD_FILE_ERRORS as e:
    cause = _cause(e)
    stats.issues["unreadable_files_skipped"] += 1
    stats.bad_files.append([path, cause])
    log.warning("corpus: skipping %s from the error on: %s", path, cause)


def _cause(e: BaseException) -> str:
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
    return [-1, _cause(e)]
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
      return [size, _cause(e)]
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


def _emit(doc: list[str], stats: CorpusStats) -> Iterator[list[str]]:
  if doc:
    yield doc
  else:
    stats.issues["empty_documents_skipped"] += 1


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


def _hash(obj) -> str:
  return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def iter_texts(source: Corpus | Iterable[str]) -> Iterator[str]:
  """Sentences of a Corpus, or the strings of any iterable."""
  return source.sentences() if isinstance(source, Corpus) else iter(source)
