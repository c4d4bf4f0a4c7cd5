"""The distillation config: its schema, defaults and validation (before anything loads).

Config files (configs/distill/*.py) start from `distill_config(objective)`. The teacher is
a workdir: a `finetune.py` run for task distillation (its data, dev split and tokenizer are
reused, so the student never sees the teacher's dev examples), a `train.py` run for MLM
distillation (its corpus, masking and tokenizer are reused). The student is the teacher's
architecture or a preset, with any of its sizes overridden.
"""

from __future__ import annotations

import ml_collections

from bertlab.compress.distill import OBJECTIVES
from bertlab.training import optimizers
from bertlab.training.config_keys import check_keys, walk

STUDENT_INITS = ("teacher", "random")  # or a path: an artifact, train.py workdir, HF dir


def distill_config(objective: str) -> ml_collections.ConfigDict:
  if objective not in OBJECTIVES:
    raise ValueError(f"objective: expected one of {OBJECTIVES}; found {objective!r}.")
  c = ml_collections.ConfigDict()
  c.objective = objective
  c.teacher = ""                 # task: a finetune.py workdir; mlm: a train.py workdir
  c.student = ml_collections.ConfigDict(dict(
      preset="",                 # "" = the teacher's architecture; else a presets.PRESETS name
      num_layers=0, hidden_size=0, num_heads=0, intermediate_size=0,  # 0 = the preset's
      # "teacher": every k-th teacher layer and the teacher's embeddings/heads (DistilBERT
      # §3; needs the teacher's widths); "random"; or a checkpoint of the student's
      # architecture: a compress.artifact (e.g. a head-pruned model), a train.py workdir or
      # an HF directory.
      init="teacher",
  ))
  c.loss = ml_collections.ConfigDict(dict(
      temperature=2.0,           # DistilBERT, Hinton et al. 2015
      alpha_kd=1.0, alpha_hard=0.0, alpha_hidden=0.0))
  # Unstructured magnitude pruning of the student's layer kernels (Zhu & Gupta 2017);
  # final_sparsity 0 = off.
  c.prune = ml_collections.ConfigDict(dict(
      final_sparsity=0.0, initial_sparsity=0.0, begin_step=0, end_step=0, frequency=100))
  c.num_train_examples = 0       # task: > 0 = the first N training examples; 0 = the teacher's
  c.batch_size = 32
  c.total_steps = 1000
  c.optimizer = ml_collections.ConfigDict(dict(
      name="adamw", learning_rate=1e-4, b1=0.9, b2=0.999, eps=1e-6, weight_decay=0.01,
      warmup_steps=100, schedule="linear", power=1.0, end_lr_ratio=0.0, clip_norm=1.0,
      max_consecutive_bad_steps=10))
  c.seed = 0
  c.mesh_shape = (-1, 1, 1)
  c.checkpoint_every_steps = 500
  c.keep_checkpoints = 2
  c.log_every_steps = 50
  c.eval_every_steps = 500
  c.eval_batches = 10            # dev (task) or held-out (mlm) batches per evaluation
  c.progress_bar = False
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises ValueError on an unknown or missing key, or a value out of range."""
  if config.get("objective") not in OBJECTIVES:
    raise ValueError(f"config.objective: expected one of {OBJECTIVES}; found "
                     f"{config.get('objective')!r}.")
  check_keys(config, distill_config(config.objective), "distill_config()")
  c, p, lo = config, config.prune, config.loss
  checks = [
      (c.teacher != "", "teacher", "a finetune.py (task) or train.py (mlm) workdir"),
      (lo.temperature > 0, "loss.temperature", "a temperature > 0"),
      (min(lo.alpha_kd, lo.alpha_hard, lo.alpha_hidden) >= 0
       and lo.alpha_kd + lo.alpha_hard + lo.alpha_hidden > 0, "loss.alpha_kd",
       "weights >= 0, not all 0"),
      (0.0 <= p.initial_sparsity <= p.final_sparsity < 1.0, "prune.final_sparsity",
       "0 <= initial_sparsity <= final_sparsity < 1"),
      (p.final_sparsity == 0 or 0 <= p.begin_step < p.end_step <= c.total_steps,
       "prune.end_step", "0 <= begin_step < end_step <= total_steps when pruning"),
      (p.frequency > 0, "prune.frequency", "a positive number of steps"),
      (c.num_train_examples >= 0, "num_train_examples", ">= 0 (0: the teacher's)"),
      (c.optimizer.name in optimizers.OPTIMIZERS, "optimizer.name",
       f"one of {optimizers.OPTIMIZERS}"),
      (c.optimizer.schedule in optimizers.SCHEDULES, "optimizer.schedule",
       f"one of {optimizers.SCHEDULES}"),
  ]
  for key in ("batch_size", "total_steps", "checkpoint_every_steps", "log_every_steps",
              "eval_every_steps", "keep_checkpoints"):
    checks.append((c[key] > 0, key, "a positive number"))
  for key in ("num_layers", "hidden_size", "num_heads", "intermediate_size"):
    checks.append((c.student[key] >= 0, f"student.{key}", ">= 0 (0: the preset's)"))
  present = dict(walk(c))
  for ok, key, expected in checks:
    if not ok:
      raise ValueError(f"config.{key}: expected {expected}; found "
                       f"{present.get(key, '(see the related keys)')!r}.")
