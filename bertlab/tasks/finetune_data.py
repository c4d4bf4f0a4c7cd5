"""Fine-tuning data: which task is what, reading its examples, and building model inputs.

A task name picks a reader and a model kind:
  GLUE (`glue.TASKS`: sst2, cola, mrpc, qqp, stsb, mnli, qnli, rte, wnli)
      -> classification (regression for STS-B), from GLUE TSV files or TFDS `glue/<task>`;
  conll2003 -> token_classification, from CoNLL column files or TFDS `conll2003`;
  squad (v1.1), squad_v2 -> span, from SQuAD JSON or TFDS `squad/v1.1`, `squad/v2.0`.
Model inputs are dicts of numpy arrays [N, ...] with the keys `models.TaskModel` reads.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from bertlab.tasks import conll, glue, squad
from bertlab.tasks.encoding import bucket
from bertlab.tasks.features import classification_features, token_classification_features
from bertlab.tasks.models import INPUT_KEYS, LABEL_KEYS
from bertlab.tasks.squad_features import squad_features
from bertlab.tasks.text_tokenizer import for_pretokenized

NER_TASKS = ("conll2003",)
SQUAD_TASKS = {"squad": "v1.1", "squad_v2": "v2.0"}
FILE_FORMATS = {"glue": "a GLUE TSV file (train.tsv, dev.tsv)",
                "conll": "a CoNLL column file (token ... tag per line, blank line between "
                         "sentences)",
                "squad": "a SQuAD JSON file (train-v1.1.json, dev-v1.1.json)"}


@dataclasses.dataclass(frozen=True)
class TaskInfo:
  """name; source ('glue', 'conll', 'squad'); kind (models.KINDS); metrics written to
  eval_results.json, the first one selecting the best checkpoint; label_names (class or
  tag names, None for regression and spans)."""
  name: str
  source: str
  kind: str
  metrics: tuple[str, ...]
  label_names: tuple[str, ...] | None

  @property
  def num_labels(self) -> int:
    return 2 if self.kind == "span" else (len(self.label_names) if self.label_names else 1)


def task_names() -> list[str]:
  return sorted(glue.TASKS) + list(NER_TASKS) + list(SQUAD_TASKS)


def task_info(name: str) -> TaskInfo:
  """The `TaskInfo` of `name`; CoNLL tags default to CoNLL-2003's (see `with_tags`)."""
  if name in NER_TASKS:
    return TaskInfo(name, "conll", "token_classification",
                    ("entity_f1", "entity_precision", "entity_recall"),
                    conll.CONLL2003_NER_TAGS)
  if name in SQUAD_TASKS:
    return TaskInfo(name, "squad", "span", ("f1", "exact_match"), None)
  try:
    g = glue.get_task(name)
  except ValueError:
    raise ValueError(f"config.task: expected one of {task_names()}; found {name!r}.") from None
  return TaskInfo(g.name, "glue", "regression" if g.is_regression else "classification",
                  g.metrics, g.labels)


def with_tags(info: TaskInfo, sentences) -> TaskInfo:
  """For NER: CoNLL-2003's tag list when it covers the data, else the data's own tags."""
  used = {t for s in sentences for t in s.tags}
  if used <= set(info.label_names):
    return info
  return dataclasses.replace(info, label_names=conll.tag_names(sentences))


def _check_file(path: str, info: TaskInfo, key: str):
  if not path:
    raise ValueError(f"config.{key}: expected {FILE_FORMATS[info.source]} for task "
                     f"{info.name!r}, or a TFDS dataset in config.tfds_name; found neither.")
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f"config.{key}: {path!r} does not exist; expected {FILE_FORMATS[info.source]} for "
        f"task {info.name!r}. Check the path (relative paths start from the current "
        "directory).")


def read_examples(info: TaskInfo, path: str = "", key: str = "train_file", *,
                  tfds_name: str = "", split: str = "train", data_dir: str = "",
                  conll_scheme: str = "iob2") -> list:
  """Examples of one split from a local file (`path`) or TFDS (`tfds_name`, `split`)."""
  data_dir = data_dir or None
  if tfds_name:
    builder, _, config_name = tfds_name.partition("/")
    if info.source == "glue":
      return glue.read_glue_tfds(info.name, split, data_dir, config_name or None)
    if info.source == "conll":
      return conll.read_conll_tfds(split, data_dir, name=tfds_name)
    return squad.read_squad_tfds(split, config_name or SQUAD_TASKS[info.name], data_dir)
  _check_file(path, info, key)
  if info.source == "glue":
    return glue.read_glue_tsv(path, info.name)
  if info.source == "conll":
    return conll.read_conll(path, scheme=conll_scheme)
  return squad.read_squad_json(path)


def holdout(examples: list, fraction: float, seed: int = 0) -> tuple[list, list]:
  """(train, dev): a seeded random `fraction` of `examples` held out as dev.

  SQuAD questions are held out by article (title), so that no dev context is seen in
  training; other examples one by one.
  """
  if not 0.0 < fraction < 1.0:
    raise ValueError(f"config.holdout_fraction: expected a fraction in (0, 1); found {fraction}.")
  group_of = [e.title if isinstance(e, squad.SquadExample) else i
              for i, e in enumerate(examples)]
  groups = list(dict.fromkeys(group_of))
  order = np.random.default_rng(seed).permutation(len(groups))
  n_dev = max(1, int(round(fraction * len(groups))))
  if n_dev >= len(groups):
    raise ValueError(f"config.holdout_fraction={fraction} of {len(groups)} examples (or "
                     "articles) leaves nothing to train on; lower it or add examples.")
  dev_groups = {groups[i] for i in order[:n_dev]}
  return ([e for e, g in zip(examples, group_of) if g not in dev_groups],
          [e for e, g in zip(examples, group_of) if g in dev_groups])


@dataclasses.dataclass
class Split:
  """Model inputs [N, ...] of one split, the examples they came from, and what mapping
  predictions back needs: token_classification: word_ids [N, L]; span: `SquadFeatures`."""
  inputs: dict[str, np.ndarray]
  examples: list
  extra: object = None

  def __len__(self) -> int:
    return len(self.inputs["input_ids"])


def build_split(examples: list, info: TaskInfo, tokenizer, pad_token: str, config,
                where: str) -> Split:
  """Tokenizes `examples` into a `Split`; `where` ('train', 'eval') goes into errors."""
  if not examples:
    raise ValueError(f"{where}: expected at least one example; found none. Check the file "
                     "or num_train_examples.")
  if info.source == "glue":
    arrays = classification_features(examples, tokenizer, config.max_seq_len,
                                     regression=info.kind == "regression", pad_token=pad_token)
    _check_sentence_labels(arrays["label"], info, examples, where)
    return Split(arrays, examples)
  if info.source == "conll":
    arrays = token_classification_features(examples, for_pretokenized(tokenizer),
                                           config.max_seq_len, info.label_names, pad_token)
    word_ids = arrays.pop("word_ids")
    return Split(arrays, examples, word_ids)
  features = squad_features(examples, tokenizer, config.max_seq_len, config.doc_stride,
                            config.max_query_len, pad_token)
  return Split(features.model_inputs(), examples, features)


def _check_sentence_labels(label_N: np.ndarray, info: TaskInfo, examples, where: str):
  if info.kind == "regression":
    bad = np.flatnonzero(~np.isfinite(label_N))
    expected = "a numeric score"
  else:
    bad = np.flatnonzero((label_N < 0) | (label_N >= info.num_labels))
    expected = f"a label id in 0..{info.num_labels - 1} ({list(info.label_names)})"
  if bad.size:
    e = examples[int(bad[0])]
    raise ValueError(
        f"{where}: {bad.size} example(s) without {expected}, first {e.guid} with label "
        f"{e.label!r}. Unlabelled files (GLUE test.tsv) cannot be trained or scored on; use "
        "the labelled train/dev files.")


def model_batch(split: Split, index_N: np.ndarray, kind: str,
                per_batch: bool = False, length: int | None = None) -> dict[str, np.ndarray]:
  """Rows `index_N` of the arrays the model reads (inputs and `kind`'s labels).

  per_batch: cut the sequence axis to the batch's longest row, rounded up to a power of two
  (32, 64, 128, ...: log2(max_seq_len / 32) + 1 compiled shapes of the train step; compiling
  one costs about as much as ten steps of a small BERT on CPU, so finer buckets lose),
  instead of max_seq_len. What is cut is padding only (masked in attention, IGNORE_INDEX in
  token labels), so losses and logits do not change, and a CoNLL batch of 32 computes
  ~2k tokens instead of 4,096.
  length: cut to exactly this many positions (fine-tuning picks it with
  `length_buckets.choose_lengths`); it must hold the batch's longest row.
  """
  batch = {k: split.inputs[k][index_N] for k in INPUT_KEYS + LABEL_KEYS[kind]}
  longest = int(batch["attention_mask"].sum(1).max())
  if length is not None and length < longest:
    raise ValueError(f"model_batch: length {length} would cut real tokens; expected at least "
                     f"the batch's longest row, {longest}.")
  if per_batch or length is not None:
    full = batch["input_ids"].shape[1]
    length = length or bucket(longest, full, smallest=32, fine=False)
    batch = {k: v[:, :length] if v.ndim == 2 and v.shape[1] == full else v
             for k, v in batch.items()}
  return batch


def row_lengths(split: Split) -> np.ndarray:
  """[N] real tokens per row (special tokens included)."""
  return split.inputs["attention_mask"].sum(1)


def sort_within_windows(order: np.ndarray, lengths: np.ndarray, window: int,
                        seed: int) -> np.ndarray:
  """`order` [S, B] with the examples of every `window` consecutive batches regrouped by
  length (similar lengths share a batch: less padding) and those batches shuffled; each
  example still trains in the same window of steps. window <= 1: `order` unchanged."""
  if window <= 1:
    return order
  rng = np.random.default_rng([seed, 1 << 21])
  out = order.copy()
  steps, size = order.shape
  for s in range(0, steps, window):
    block = order[s:s + window].reshape(-1)
    block = block[np.argsort(-lengths[block], kind="stable")]
    batches = block.reshape(-1, size)
    out[s:s + window] = batches[rng.permutation(len(batches))]
  return out


def train_order(num_examples: int, batch_size: int, num_steps: int, seed: int) -> np.ndarray:
  """[num_steps, batch_size] example indices: a fresh permutation per epoch, epochs
  concatenated, so no example is dropped at an epoch's end."""
  rng = np.random.default_rng([seed, 1 << 20])
  need = num_steps * batch_size
  epochs = -(-need // num_examples)
  stream = np.concatenate([rng.permutation(num_examples) for _ in range(epochs)])
  return stream[:need].reshape(num_steps, batch_size)
