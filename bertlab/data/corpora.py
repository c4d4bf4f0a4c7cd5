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
import gzip
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence

from bertlab.data.corpus_files import cause, content_fingerprint, expand_paths

# C0/C1 controls except tab and the line-like ones below, which become a space.
_CONTROL_RE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff]")
_SPACE_LIKE_RE = re.compile("[\r\x0b\x0c\x85]")
# A sentence ends at . ! ? followed by space and anything but a lower-case ASCII letter ("e.g.
# this" stays whole), or at a CJK full stop. Deliberately simple: NSP/SOP segments only need to
# be contiguous runs of text.
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[^\sa-z])|(?<=[。！？])")
MAX_LINE_BYTES = 1 << 16  # ~64 KB: far above any sentence, small enough to bound memory
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
    for pattern, why in self.unmatched:
      stats.issues["patterns_matching_nothing"] += 1
      stats.bad_files.append([pattern, why])
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
    why = cause(e)
    stats.issues["unreadable_files_skipped"] += 1
    stats.bad_files.append([path, why])
    log.warning("corpus: skipping %s from the error on: %s", path, why)


def _emit(doc: list[str], stats: CorpusStats) -> Iterator[list[str]]:
  if doc:
    yield doc
  else:
    stats.issues["empty_documents_skipped"] += 1


def _hash(obj) -> str:
  return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def iter_texts(source: Corpus | Iterable[str]) -> Iterator[str]:
  """Sentences of a Corpus, or the strings of any iterable."""
  return source.sentences() if isinstance(source, Corpus) else iter(source)
