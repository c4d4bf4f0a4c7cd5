"""CoNLL-style NER data: column files (CoNLL-2003 `token POS chunk NER`) and TFDS `conll2003`.

Sentences are separated by blank lines; `-DOCSTART-` lines mark document boundaries and are
dropped. Tags come back in IOB2 (BIO: every entity starts with `B-`), the scheme that
token-classification labels use. The original CoNLL-2003 release is IOB1 (entities start
with `I-`); read it with `scheme='iob1'` and it is converted. Reading an IOB1 file as IOB2
is an error that says so, rather than training on entities that silently never begin.
"""

import dataclasses
import os

from bertlab.tasks.entity_metrics import check_tags, first_iob2_violation, iob1_to_iob2

# TFDS `conll2003` (and Hugging Face's) id order of the NER classes.
CONLL2003_NER_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC",
                      "I-MISC")
_SCHEMES = ("iob2", "iob1")


@dataclasses.dataclass(frozen=True)
class TaggedSentence:
  """One sentence: words and their IOB2 NER tags (plus POS and chunk tags when the file has
  CoNLL-2003's four columns, else None). guid is 'file:first line' or 'conll2003/<split>:<i>'."""
  guid: str
  tokens: tuple[str, ...]
  tags: tuple[str, ...]
  pos: tuple[str, ...] | None = None
  chunks: tuple[str, ...] | None = None


def tag_names(sentences: list[TaggedSentence]) -> tuple[str, ...]:
  """A label list for `sentences`: 'O', then per type (sorted) its 'B-' and 'I-' tags."""
  types = sorted({t[2:] for s in sentences for t in s.tags if t != "O"})
  return ("O", *(f"{p}-{t}" for t in types for p in ("B", "I")))


def _finish(rows: list[tuple[int, list[str]]], path: str, scheme: str,
            tag_column: int) -> TaggedSentence:
  """Builds one sentence from its (line number, fields) rows, converting or checking tags."""
  lines = [n for n, _ in rows]
  tokens = tuple(f[0] for _, f in rows)
  tags = [f[tag_column] for _, f in rows]
  check_tags(tags, f"{path}:{lines[0]}")
  four = len(rows[0][1]) == 4
  chunks = [f[2] for _, f in rows] if four else None
  if scheme == "iob1":
    tags = iob1_to_iob2(tags)
    if chunks is not None:
      chunks = iob1_to_iob2(chunks)
  else:
    bad = first_iob2_violation(tags)
    if bad is not None:
      before = "the sentence start" if bad == 0 else repr(tags[bad - 1])
      raise ValueError(
          f"{path}:{lines[bad]}: expected IOB2 (BIO) tags, where an entity starts with 'B-'; "
          f"found {tags[bad]!r} after {before}. This looks like IOB1 (the original CoNLL-2003 "
          "release); read it with scheme='iob1' to convert.")
  return TaggedSentence(
      guid=f"{os.path.basename(path)}:{lines[0]}", tokens=tokens, tags=tuple(tags),
      pos=tuple(f[1] for _, f in rows) if four else None,
      chunks=tuple(chunks) if four else None)


def read_conll(path: str | os.PathLike, scheme: str = "iob2",
               tag_column: int = -1) -> list[TaggedSentence]:
  """Reads a whitespace-separated column file, one token per line.

  Args:
    path: e.g. CoNLL-2003's 'train.txt'.
    scheme: 'iob2' (BIO) or 'iob1' (converted to IOB2; chunk tags too).
    tag_column: which column holds the NER tag (the last in CoNLL-2003).

  Raises:
    ValueError naming file and line for a row with a different column count, a tag outside
    'O'/'B-X'/'I-X', or (scheme='iob2') an entity that starts with 'I-'.
  """
  if scheme not in _SCHEMES:
    raise ValueError(f"read_conll: expected scheme in {_SCHEMES}; found {scheme!r}.")
  path = os.fspath(path)
  sentences, rows, width = [], [], None
  with open(path, encoding="utf-8") as f:
    for lineno, line in enumerate(f, start=1):
      fields = line.split()
      if fields and fields[0] != "-DOCSTART-":
        if width is None:
          width = len(fields)
          if width < 2:
            raise ValueError(
                f"{path}:{lineno}: expected a token and at least one tag column; found "
                f"{fields}. Check that columns are separated by whitespace.")
        if len(fields) != width:
          raise ValueError(
              f"{path}:{lineno}: expected {width} columns, like the first row; found "
              f"{len(fields)} ({fields}). Tokens may not contain spaces.")
        rows.append((lineno, fields))
      elif rows:
        sentences.append(_finish(rows, path, scheme, tag_column))
        rows = []
  if rows:
    sentences.append(_finish(rows, path, scheme, tag_column))
  return sentences


def read_conll_tfds(split: str, data_dir: str | None = None,
                    name: str = "conll2003") -> list[TaggedSentence]:
  """Reads TFDS `conll2003` through `tfds.data_source` (no TensorFlow needed).

  Tag ids become names with the builder's own class lists (IOB2 for conll2003).
  """
  import tensorflow_datasets as tfds
  import tensorflow_datasets.text  # noqa: F401  (registers the conll2003 builder)

  features = tfds.builder(name, data_dir=data_dir).info.features
  names = {key: features[key].feature.names for key in ("ner", "pos", "chunks")}
  source = tfds.data_source(name, split=split, data_dir=data_dir)
  sentences = []
  for i in range(len(source)):
    record = source[i]
    tokens = tuple(t.decode("utf-8") if isinstance(t, bytes) else str(t)
                   for t in record["tokens"])
    columns = {}
    for key, key_names in names.items():
      ids = [int(x) for x in record[key]]
      if len(ids) != len(tokens) or any(not 0 <= x < len(key_names) for x in ids):
        raise ValueError(
            f"{name}[{split}] record {i}: expected {len(tokens)} {key!r} ids in "
            f"0..{len(key_names) - 1}, one per token; found {ids}. The record is corrupt.")
      columns[key] = tuple(key_names[x] for x in ids)
    sentences.append(TaggedSentence(f"{name}/{split}:{i}", tokens, columns["ner"],
                                    columns["pos"], columns["chunks"]))
  return sentences
