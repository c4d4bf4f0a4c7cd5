"""The fine-tuning config: its schema, defaults (BERT §4's recipe), and validation.

Config files (configs/finetune/*.py) start from `finetune_config(task)` and set the paper's
hyperparameters; `validate` rejects a key the schema lacks, naming the nearest valid one, and
values that would fail later (after minutes of tokenization or compilation).
"""

from __future__ import annotations

import ml_collections
from ml_collections import config_dict

from bertlab.tasks.finetune_data import task_info, task_names
from bertlab.training import optimizers
from bertlab.training.config_keys import check_keys, walk

DTYPES = ("float32", "bfloat16")


def finetune_config(task: str) -> ml_collections.ConfigDict:
  """Defaults for `task` (a `finetune_data.task_names()` entry)."""
  task_info(task)  # rejects an unknown task here, with the list of known ones
  c = ml_collections.ConfigDict()
  c.task = task
  c.init_from = ""              # our pretraining workdir, a local HF checkpoint directory, or
                                # one `python -m bertlab.convert import` wrote
  c.random_init = False         # True: init_from's architecture and tokenizer, random weights
  # Data: local files in the task's format, or a TFDS dataset (tfds_name, splits).
  c.train_file = ""
  c.eval_file = ""
  c.tfds_name = ""              # e.g. "glue/sst2", "conll2003", "squad/v1.1"
  c.tfds_data_dir = ""
  c.train_split = "train"
  c.eval_split = "validation"
  c.num_train_examples = 0      # > 0: train on the first N examples only
  c.num_eval_examples = 0       # > 0: evaluate on the first N examples only
  c.holdout_fraction = 0.0      # > 0: no eval file; hold this fraction of train out as dev
  # > 0: train on the rest of the (capped) training examples and evaluate on this fraction of
  # them instead of the eval split: choosing hyperparameters without seeing the split reported.
  c.select_fraction = 0.0
  c.conll_scheme = "iob2"       # "iob1" for the original CoNLL-2003 release
  c.max_seq_len = 128           # BERT §4.1 (GLUE)
  c.doc_stride = 128            # SQuAD windows (BERT's run_squad.py)
  c.max_query_len = 64
  c.n_best = 20
  c.max_answer_len = 30
  c.null_threshold = 0.0        # SQuAD v2.0: predict "" when null − best span > this
  # Each batch padded to its longest row (rounded up to 32, 64, 128, ...), not to
  # max_seq_len, in training and evaluation: same results, a fraction of the work (HF's
  # example scripts pad per batch too).
  c.pad_per_batch = True
  c.length_sort_window = 0      # > 1: regroup examples by length within this many batches
  # Token classification: pack each training batch's sentences into as few rows of
  # max_seq_len as hold them, each attending only to itself (same losses; a CoNLL batch of
  # 32 computes ~700 tokens, not ~1,600 padded to its longest); evaluation stays per batch.
  c.pack_rows = True
  # Model.
  c.classifier_dropout = 0.1    # BERT §4: dropout 0.1 before the classifier
  c.hidden_dropout = config_dict.placeholder(float)     # None: as the checkpoint
  c.attention_dropout = config_dict.placeholder(float)  # None: as the checkpoint
  c.dtype = "float32"           # compute dtype; parameters stay float32
  # > 0: pad the vocabulary to a multiple of this (e.g. 128) so that a tensor axis divides the
  # word table; padded ids are never predicted and export writes the real size. 0: as the
  # checkpoint (a Hugging Face one is unpadded, our pretraining runs pad to 128).
  c.vocab_multiple = 0
  # Optimization: BERT §4 / Appendix A.3: Adam, lr in {5e-5, 4e-5, 3e-5, 2e-5}, batch 32,
  # 3 epochs, linear warmup over 10 % of the steps then linear decay.
  c.batch_size = 32
  c.eval_batch_size = 64
  c.num_epochs = 3.0
  c.total_steps = 0             # > 0 overrides num_epochs
  c.warmup_proportion = 0.1
  c.layerwise_lr_decay = 1.0    # ELECTRA: 0.8 (base), 0.9 (large); 1 = off
  c.optimizer = ml_collections.ConfigDict(dict(
      name="adamw", learning_rate=2e-5, b1=0.9, b2=0.999, eps=1e-6, weight_decay=0.01,
      schedule="linear", power=1.0, end_lr_ratio=0.0, clip_norm=1.0))
  # Runs, evaluation and outputs.
  c.seeds = (0,)                # one fine-tuning run per seed; the median is reported
  c.eval_every_steps = 0        # 0: after every epoch (and at the end)
  c.select_best = True          # report the best evaluation, not the last
  c.save_checkpoint = True      # write the selected params to WORKDIR/seed_S/checkpoint
  c.log_every_steps = 50
  c.mesh_shape = (-1, 1, 1)     # (data, fsdp, tensor)
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError on an unknown or missing key, or a value out of range."""
  if "task" not in config:
    raise ValueError("config.task is missing; start from finetune_config(task) "
                     f"(tasks: {task_names()}).")
  check_keys(config, finetune_config(config.task), "finetune_config(task)")
  c = config
  checks = [
      (c.init_from != "", "init_from", "a pretraining workdir or an HF checkpoint directory"),
      (not (c.tfds_name and (c.train_file or c.eval_file)), "tfds_name",
       "either local files (train_file, eval_file) or tfds_name, not both"),
      (not (c.holdout_fraction and c.eval_file), "holdout_fraction",
       "no eval_file when holding a dev set out of train (TFDS: eval_split is then unused)"),
      (0.0 <= c.holdout_fraction < 1.0, "holdout_fraction", "a fraction in [0, 1)"),
      (0.0 <= c.select_fraction < 1.0, "select_fraction", "a fraction in [0, 1)"),
      (c.batch_size > 0 and c.eval_batch_size > 0, "batch_size", "positive batch sizes"),
      (c.num_epochs > 0 or c.total_steps > 0, "num_epochs", "num_epochs > 0 or total_steps > 0"),
      (c.num_train_examples >= 0 and c.num_eval_examples >= 0, "num_train_examples",
       ">= 0 (0: all)"),
      (0.0 <= c.warmup_proportion < 1.0, "warmup_proportion", "a fraction in [0, 1)"),
      (0.0 < c.layerwise_lr_decay <= 1.0, "layerwise_lr_decay", "a factor in (0, 1]"),
      (0.0 <= c.classifier_dropout < 1.0, "classifier_dropout", "a rate in [0, 1)"),
      (len(c.seeds) > 0, "seeds", "at least one seed, e.g. (0, 1, 2)"),
      (c.dtype in DTYPES, "dtype", f"one of {DTYPES}"),
      (c.vocab_multiple >= 0, "vocab_multiple", ">= 0 (0: as the checkpoint)"),
      (c.conll_scheme in ("iob2", "iob1"), "conll_scheme", "'iob2' or 'iob1'"),
      (c.optimizer.name in optimizers.OPTIMIZERS, "optimizer.name",
       f"one of {optimizers.OPTIMIZERS}"),
      (c.optimizer.schedule in optimizers.SCHEDULES, "optimizer.schedule",
       f"one of {optimizers.SCHEDULES}"),
      (c.max_seq_len > 8, "max_seq_len", "more than 8 tokens"),
      (isinstance(c.pad_per_batch, bool), "pad_per_batch", "True or False"),
      (isinstance(c.pack_rows, bool), "pack_rows", "True or False"),
      (c.length_sort_window >= 0, "length_sort_window", ">= 0 batches (0: off)"),
  ]
  present = dict(walk(c))
  for ok, key, expected in checks:
    if not ok:
      raise ValueError(f"config.{key}: expected {expected}; found "
                       f"{present.get(key, '(see the related keys)')!r}.")
