"""Corpora that are not text files: the built-in pydoc topics and TFDS datasets."""

from __future__ import annotations

import hashlib
import re
import sys

from bertlab.data.corpora import MAX_LINE_BYTES, Corpus, _hash

# Heading underlines and rules in the pydoc topics ("*****", "=====", "-----").
_DECORATION_RE = re.compile(r"^[\s*=\-~^#+_]*$")


class PydocCorpus(Corpus):
  """CPython's own documentation topics (`pydoc_data.topics.topics`, ~0.5-0.75 MB of English
  depending on the version), present on every CPython: the offline default corpus.

  Each topic is a document; each non-blank line of it a sentence (the topics are wrapped at ~70
  characters, so lines are sentence-sized); heading underlines are dropped.
  """

  def __init__(self, max_line_bytes: int = MAX_LINE_BYTES):
    super().__init__(split_sentences=False, max_line_bytes=max_line_bytes)

  @staticmethod
  def _topics() -> dict[str, str]:
    try:
      from pydoc_data.topics import topics
    except ImportError as e:
      raise ImportError(
          "the built-in corpus needs CPython's pydoc_data module, missing from this Python "
          f"({sys.executable}); install the full standard library (e.g. Debian's "
          "'libpython3-stdlib') or pass text files as the corpus") from e
    return topics

  def inputs(self) -> list[str]:
    return ["pydoc_data.topics"]

  def fingerprint(self) -> str:
    h = hashlib.sha256()
    for name, text in sorted(self._topics().items()):
      h.update(name.encode() + b"\0" + text.encode("utf-8", "replace") + b"\0")
    return _hash(dict(kind="pydoc", topics=h.hexdigest(), options=self._options()))

  def _documents(self, stats):
    for _, text in sorted(self._topics().items()):
      stats.files += 1
      doc = []
      for line in text.splitlines():
        if _DECORATION_RE.match(line):
          continue
        for piece in self._cut(line, stats):
          doc.extend(self._clean(piece, stats))
      if doc:
        yield doc
      else:
        stats.issues["empty_documents_skipped"] += 1


class TfdsCorpus(Corpus):
  """A TFDS dataset through `tfds.data_source` (random access, no TensorFlow): each example's
  `text_key` feature is a document, its lines split into sentences (`split_sentences`).

  The dataset must already be prepared in `data_dir` (TFDS's default when None).
  """

  def __init__(self, name: str, split: str = "train", *, text_key: str = "text",
               data_dir: str | None = None, split_sentences: bool = True,
               max_line_bytes: int = MAX_LINE_BYTES):
    super().__init__(split_sentences=split_sentences, max_line_bytes=max_line_bytes)
    self.name, self.split, self.text_key, self.data_dir = name, split, text_key, data_dir
    self._source = None

  def source(self):
    if self._source is None:
      import tensorflow_datasets as tfds
      import tensorflow_datasets.text  # noqa: F401  registers glue, wikipedia, ... builders

      self._source = tfds.data_source(self.name, split=self.split, data_dir=self.data_dir)
    return self._source

  def inputs(self) -> list[str]:
    return [f"tfds:{self.name}:{self.split}"]

  def fingerprint(self) -> str:
    return _hash(dict(kind="tfds", name=self.name, split=self.split, text_key=self.text_key,
                      data_dir=self.data_dir, size=len(self.source()), options=self._options()))

  def _documents(self, stats):
    source = self.source()
    stats.files += 1
    for i in range(len(source)):
      example = source[i]
      if self.text_key not in example:
        raise KeyError(f"tfds:{self.name}: expected a {self.text_key!r} feature, found "
                       f"{sorted(example)}; pass text_key=")
      text = example[self.text_key]
      if isinstance(text, bytes):
        try:
          text = text.decode("utf-8")
        except UnicodeDecodeError:
          text = text.decode("utf-8", errors="replace")
          stats.issues["undecodable_lines_replaced"] += 1
      doc = []
      for line in str(text).split("\n"):
        for piece in self._cut(line, stats):
          doc.extend(self._clean(piece, stats))
      if doc:
        yield doc
      else:
        stats.issues["empty_documents_skipped"] += 1
