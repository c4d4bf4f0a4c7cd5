"""GLUE sentence and sentence-pair tasks: the task table and readers for TSV files and TFDS.

The TSV reader takes the files of the official GLUE download (`train.tsv`, `dev.tsv`,
`dev_matched.tsv`, `test.tsv`, ...). Their layouts differ per task and per split, so columns
are found by header name; CoLA's train and dev files have no header and use the fixed layout
`source, label, original label (unused), sentence`. Test files carry no label column: their
examples have `label=None`. Fields are split on tabs with no quote handling (as GLUE's own
loaders: SST-2 sentences contain bare `"`).

Labels are ids into `GlueTask.labels`, the class names of TFDS `glue/<task>`; a TSV label
may be written as the name (`entailment`) or as the id (`0`, `1`). STS-B is a regression:
its label is a float score in [0, 5].
"""

import dataclasses
import os


@dataclasses.dataclass(frozen=True)
class TextExample:
  """One sentence or sentence pair.

  guid: where it came from, 'file:line' or 'glue/<task>/<split>:<idx>'.
  label: class id, float score (regression), or None (unlabelled test data).
  """
  guid: str
  text_a: str
  text_b: str | None
  label: int | float | None


@dataclasses.dataclass(frozen=True)
class GlueTask:
  """How one GLUE task is laid out and scored.

  text_columns: TSV header names of the one or two text columns.
  label_column: TSV header name of the label.
  labels: class names in id order (TFDS's order), or None for a regression.
  metrics: keys of `metrics.METRICS`, as GLUE reports the task.
  tfds_text_keys: the text features of TFDS `glue/<tfds_name>`.
  headerless_columns: column names of files with no header row (CoLA train/dev), else None.
  """
  name: str
  text_columns: tuple[str, ...]
  label_column: str
  labels: tuple[str, ...] | None
  metrics: tuple[str, ...]
  tfds_text_keys: tuple[str, ...]
  headerless_columns: tuple[str, ...] | None = None

  @property
  def is_regression(self) -> bool:
    return self.labels is None

  @property
  def num_labels(self) -> int:
    """Output width of the classifier: the class count, or 1 for a regression."""
    return 1 if self.labels is None else len(self.labels)


_NLI3 = ("entailment", "neutral", "contradiction")
_NLI2 = ("entailment", "not_entailment")

TASKS: dict[str, GlueTask] = {t.name: t for t in [
    GlueTask("cola", ("sentence",), "label", ("unacceptable", "acceptable"), ("mcc",),
             ("sentence",), headerless_columns=("source", "label", "original_label", "sentence")),
    GlueTask("sst2", ("sentence",), "label", ("negative", "positive"), ("accuracy",),
             ("sentence",)),
    GlueTask("mrpc", ("#1 String", "#2 String"), "Quality", ("not_equivalent", "equivalent"),
             ("accuracy", "f1"), ("sentence1", "sentence2")),
    GlueTask("qqp", ("question1", "question2"), "is_duplicate", ("not_duplicate", "duplicate"),
             ("accuracy", "f1"), ("question1", "question2")),
    GlueTask("stsb", ("sentence1", "sentence2"), "score", None, ("pearson", "spearman"),
             ("sentence1", "sentence2")),
    # MNLI's dev files have label1..label5 before gold_label; the header finds it anyway.
    GlueTask("mnli", ("sentence1", "sentence2"), "gold_label", _NLI3, ("accuracy",),
             ("premise", "hypothesis")),
    GlueTask("qnli", ("question", "sentence"), "label", _NLI2, ("accuracy",),
             ("question", "sentence")),
    GlueTask("rte", ("sentence1", "sentence2"), "label", _NLI2, ("accuracy",),
             ("sentence1", "sentence2")),
    GlueTask("wnli", ("sentence1", "sentence2"), "label", ("not_entailment", "entailment"),
             ("accuracy",), ("sentence1", "sentence2")),
]}

def get_task(name: str) -> GlueTask:
  """The `TASKS` entry for `name` ('sst2', 'SST-2' and 'sst-2' all work)."""
  key = name.lower().replace("-", "").replace("_", "")
  if key not in TASKS:
    raise ValueError(f"GLUE task: expected one of {sorted(TASKS)}; found {name!r}.")
  return TASKS[key]


def parse_label(value: str, task: GlueTask, where: str) -> int | float:
  """A TSV label as a class id or float score; `where` ('file:line') goes into errors."""
  if task.labels is None:
    try:
      return float(value)
    except ValueError:
      raise ValueError(
          f"{where}: expected a numeric {task.name} score in column {task.label_column!r}; "
          f"found {value!r}.") from None
  if value in task.labels:
    return task.labels.index(value)
  if value.isascii() and value.isdigit() and int(value) < len(task.labels):
    return int(value)
  raise ValueError(
      f"{where}: expected a {task.name} label among {list(task.labels)} or an id "
      f"0..{len(task.labels) - 1} in column {task.label_column!r}; found {value!r}. "
      "Check that the file belongs to this task.")


def _column_indices(first_fields: list[str], task: GlueTask, path: str):
  """(header present?, {column name: index}) for a file whose first row is `first_fields`."""
  if all(c in first_fields for c in task.text_columns):
    return True, {name: i for i, name in enumerate(first_fields)}
  if task.headerless_columns and len(first_fields) == len(task.headerless_columns):
    return False, {name: i for i, name in enumerate(task.headerless_columns)}
  layouts = f"a header row naming {list(task.text_columns)}"
  if task.headerless_columns:
    layouts += f", or {len(task.headerless_columns)} columns {list(task.headerless_columns)}"
  raise ValueError(
      f"{path}:1: expected {layouts} for GLUE task {task.name!r}; found {first_fields[:6]}. "
      "Check the task name, or that the file is tab-separated.")


def read_glue_tsv(path: str | os.PathLike, task: str | GlueTask) -> list[TextExample]:
  """Reads one GLUE TSV file (any split) into `TextExample`s.

  Args:
    path: e.g. 'glue_data/RTE/dev.tsv'.
    task: a `TASKS` key or a `GlueTask`.

  Raises:
    ValueError naming file and line for a short row or an unknown label.
  """
  task = get_task(task) if isinstance(task, str) else task
  path = os.fspath(path)
  # utf-8-sig: MRPC's files start with a byte-order mark before 'Quality'.
  with open(path, encoding="utf-8-sig", newline="") as f:
    lines = f.read().splitlines()
  if not lines:
    raise ValueError(f"{path}: expected a GLUE {task.name} TSV file; found an empty file.")
  has_header, columns = _column_indices(lines[0].split("\t"), task, path)
  text_idx = [columns[c] for c in task.text_columns]
  label_idx = columns.get(task.label_column)
  needed = max(text_idx + ([label_idx] if label_idx is not None else [])) + 1
  name = os.path.basename(path)

  examples = []
  for lineno, line in enumerate(lines[1:] if has_header else lines, start=2 if has_header else 1):
    if not line.strip():
      continue
    fields = line.split("\t")
    where = f"{path}:{lineno}"
    if len(fields) < needed:
      raise ValueError(
          f"{where}: expected at least {needed} tab-separated fields for {task.name}; found "
          f"{len(fields)}. The row is truncated or holds a stray newline; fix or drop it.")
    texts = [fields[i] for i in text_idx]
    label = None if label_idx is None else parse_label(fields[label_idx], task, where)
    examples.append(TextExample(f"{name}:{lineno}", texts[0], texts[1] if len(texts) > 1 else None,
                                label))
  return examples


def _as_str(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_glue_tfds(task: str | GlueTask, split: str, data_dir: str | None = None,
                   tfds_name: str | None = None) -> list[TextExample]:
  """Reads TFDS `glue/<task>` through `tfds.data_source` (no TensorFlow needed).

  Args:
    task: a `TASKS` key or `GlueTask`.
    split: a TFDS split, e.g. 'train', 'validation', 'validation_matched' (MNLI), 'test'.
    data_dir: TFDS data directory (None: TFDS's default).
    tfds_name: builder config, when it differs from the task (e.g. 'mnli_mismatched').

  TFDS marks unlabelled test examples with label -1; they become `label=None`.
  """
  import tensorflow_datasets as tfds
  import tensorflow_datasets.text  # noqa: F401  (registers the glue builders)

  task = get_task(task) if isinstance(task, str) else task
  name = f"glue/{tfds_name or task.name}"
  source = tfds.data_source(name, split=split, data_dir=data_dir)
  examples = []
  for i in range(len(source)):
    record = source[i]
    missing = [k for k in (*task.tfds_text_keys, "label") if k not in record]
    if missing:
      raise ValueError(
          f"{name}[{split}] record {i}: expected features {[*task.tfds_text_keys, 'label']}; "
          f"missing {missing} (found {sorted(record)}). Check `tfds_name`.")
    texts = [_as_str(record[k]) for k in task.tfds_text_keys]
    if task.is_regression:
      label = float(record["label"])
    else:
      label = int(record["label"])
      if label == -1:
        label = None
      elif not 0 <= label < len(task.labels):
        raise ValueError(
            f"{name}[{split}] record {i}: expected a label id in 0..{len(task.labels) - 1} "
            f"or -1; found {label}.")
    idx = int(record.get("idx", i))
    examples.append(TextExample(f"{name}/{split}:{idx}", texts[0],
                                texts[1] if len(texts) > 1 else None, label))
  return examples
