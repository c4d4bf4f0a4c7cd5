"""The study config: what is compared (arms), with how much compute, on which tasks.

A study config file (configs/study/*.py) starts from `study_config()`. Every arm shares the
`encoder` section, the corpus and the tokenizer, so only its pretraining objective differs;
`validate` rejects unknown keys, unknown families, missing task files and a budget too small
for one step before anything trains.
"""

from __future__ import annotations

import importlib.util
import os

import ml_collections

from bertlab.objectives.registry import FAMILIES
from bertlab.training.config_keys import check_keys, walk

RANDOM_ARM = "random"  # the floor: the same architecture, fine-tuned from random weights


def study_config() -> ml_collections.ConfigDict:
  """The schema with defaults; config files fill in arms and tasks."""
  c = ml_collections.ConfigDict()
  # One encoder size for every arm (ELECTRA: the discriminator; its generator is scaled by
  # generator_fraction, ELECTRA Table 6: 1/4 at small size).
  c.encoder = ml_collections.ConfigDict(dict(
      hidden_size=128, num_layers=2, num_heads=2, intermediate_size=512, vocab_size=8192,
      max_seq_len=128, hidden_dropout=0.1, attention_dropout=0.1))
  c.generator_fraction = 0.25
  # One corpus and one tokenizer (trained once into WORKDIR/tokenizer) for every arm.
  c.corpus = ""                 # comma-separated files/globs, or "tfds:NAME:SPLIT"; "" = built-in
  c.one_doc_per_line = False
  c.tokenizer = "wordpiece"
  c.lowercase = True
  # arms.NAME = dict(family=..., overrides=dict(...)): overrides are pretraining config keys
  # (bertlab/training/config.py), nested, e.g. dict(data=dict(packing=True)).
  c.arms = ml_collections.ConfigDict()
  c.random_init = True          # add the random-init arm
  c.baseline = "bert"           # the arm every other is compared with, pairwise
  c.pretrain = ml_collections.ConfigDict(dict(
      budget_flops=1e15,        # per arm; steps = budget / the arm's train-step FLOPs
      fractions=(0.25, 0.5, 1.0),  # fine-tune from checkpoints at these fractions of it
      seeds=(0,),
      batch_size=32,
      max_predictions=20,
      learning_rate=5e-4,
      warmup_fraction=0.1,      # of the arm's steps
      checkpoint_every_steps=1000,  # at most; the interval divides every fraction's step
      log_every_steps=50,
      eval_batches=10,
  ))
  # One fine-tuning recipe for every arm and task (task overrides may set data and lengths).
  c.finetune = ml_collections.ConfigDict(dict(
      seeds=(0, 1, 2),
      learning_rate=1e-4,
      batch_size=32,
      num_epochs=3.0,
      max_seq_len=128,
      select_best=False,        # report the last evaluation: no selection on the dev set
      # Non-empty: each (arm, seed, fraction, task) group first fine-tunes at every rate here
      # on (1 - select_fraction) of its training examples, scores the rest, and its seeds
      # report the held-out score at the best rate (BERT §4.1 selects its rate per task on dev). One rate cannot suit every arm: on
      # SST-2 a rate that lets random init learn words overwrites what pretraining gave.
      learning_rates=(),
      select_fraction=0.2,
  ))
  # tasks.NAME = dict(config="configs/finetune/sst2.py", overrides=dict(train_file=..., ...)).
  c.tasks = ml_collections.ConfigDict()
  # Compiled steps are kept here and reused by later cells of the same shapes (most fine-tuning
  # cells: every arm but ELECTRA fine-tunes the same network). "" = WORKDIR/jax_cache.
  c.compilation_cache_dir = ""
  return c


def _entries(section, where, required):
  out = {}
  for name in section.keys():
    entry = section[name]
    keys = set(entry.keys()) if isinstance(entry, ml_collections.ConfigDict) else None
    if keys is None or not set(required) <= keys or keys - set(required) - {"overrides"}:
      raise ValueError(f"study.{where}.{name}: expected dict({', '.join(required)}, "
                       f"overrides=dict(...)); found {entry!r}.")
    out[name] = entry
  return out


def arms(study) -> dict:
  """name -> arm entry (family, overrides), in config order; the random arm not included."""
  return _entries(study.arms, "arms", ("family",))


def tasks(study) -> dict:
  return _entries(study.tasks, "tasks", ("config",))


def arm_names(study) -> list[str]:
  return list(arms(study)) + ([RANDOM_ARM] if study.random_init else [])


def load_task_config(study, name: str) -> ml_collections.ConfigDict:
  """The task's fine-tuning config: its file, then the study's recipe, then its overrides."""
  from bertlab import finetune_config

  entry = study.tasks[name]
  path = entry.config
  if not os.path.isfile(path):
    raise FileNotFoundError(f"study.tasks.{name}.config: expected a fine-tuning config file "
                            f"(configs/finetune/TASK.py); found no file {path!r}.")
  spec = importlib.util.spec_from_file_location(f"_study_task_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  r = study.finetune
  c.seeds = tuple(r.seeds)
  c.optimizer.learning_rate = r.learning_rate
  c.batch_size, c.num_epochs, c.max_seq_len = r.batch_size, r.num_epochs, r.max_seq_len
  c.select_best = r.select_best
  c.save_checkpoint = False     # cells keep scores, not fine-tuned weights
  c.log_every_steps = 50
  overrides = entry.get("overrides") or ml_collections.ConfigDict()
  for key, value in walk(overrides):
    _set(c, key, value, f"study.tasks.{name}.overrides", "finetune_config(task)")
  c.init_from = "(set per cell)"
  finetune_config.validate(c)
  for key in ("train_file", "eval_file"):
    if c[key] and not os.path.isfile(c[key]):
      raise FileNotFoundError(f"study.tasks.{name}: {key} {c[key]!r} does not exist; expected "
                              f"the task's data file ({c.task}). Fix the path in the study "
                              "config.")
  if not c.train_file and not c.tfds_name:
    raise ValueError(f"study.tasks.{name}: expected overrides.train_file (or tfds_name); "
                     "found neither.")
  return c


def _set(config, dotted: str, value, where: str, schema: str):
  """config[dotted] = value; an unknown key is an error naming the nearest valid one."""
  from bertlab.training.config_keys import nearest_key

  known = dict(walk(config))
  if dotted not in known:
    raise ValueError(f"{where}: {dotted!r} is not a key of {schema}" + nearest_key(dotted, known))
  *parents, leaf = dotted.split(".")
  node = config
  for p in parents:
    node = node[p]
  node[leaf] = tuple(value) if isinstance(value, list) else value


def apply_overrides(config, overrides, where: str, schema: str):
  for key, value in walk(overrides or ml_collections.ConfigDict()):
    _set(config, key, value, where, schema)


def validate(study) -> None:
  """Raises ValueError / FileNotFoundError on anything that would fail later."""
  check_keys(study, _reference(study), "study_config()")
  found = arms(study)
  if not found:
    raise ValueError("study.arms: expected at least one arm, e.g. arms.bert = "
                     "dict(family='bert'); found none.")
  for name, entry in found.items():
    if entry.family not in FAMILIES:
      raise ValueError(f"study.arms.{name}.family: {entry.family!r} is not a pretraining "
                       f"family; expected one of {FAMILIES}.")
    if name == RANDOM_ARM:
      raise ValueError(f"study.arms.{name}: the name {RANDOM_ARM!r} is the random-init arm's "
                       "(study.random_init); rename the arm.")
  if study.baseline not in found:
    raise ValueError(f"study.baseline: {study.baseline!r} is not an arm; expected one of "
                     f"{list(found)}.")
  p = study.pretrain
  fractions = tuple(p.fractions)
  if not fractions or sorted(set(fractions)) != list(fractions) or not (
      0 < fractions[0] and fractions[-1] == 1):
    raise ValueError(f"study.pretrain.fractions: expected increasing fractions in (0, 1] "
                     f"ending with 1, e.g. (0.25, 0.5, 1.0); found {fractions}.")
  for key in ("seeds",):
    if not tuple(p[key]) or not tuple(study.finetune[key]):
      raise ValueError(f"study.pretrain.{key} and study.finetune.{key}: expected at least "
                       "one seed each.")
  if max(study.finetune.seeds) >= 1000 or min(study.finetune.seeds) < 0:
    raise ValueError("study.finetune.seeds: expected seeds in [0, 1000) (the random arm's "
                     f"seed is 1000 * pretraining seed + fine-tuning seed); found "
                     f"{tuple(study.finetune.seeds)}.")
  f = study.finetune
  if any(not lr > 0 for lr in f.learning_rates) or not 0 < f.select_fraction < 1:
    raise ValueError(f"study.finetune.learning_rates / select_fraction: expected positive rates "
                     f"and a fraction in (0, 1); found {tuple(f.learning_rates)}, "
                     f"{f.select_fraction}.")
  if not 0 <= p.warmup_fraction < 1:
    raise ValueError(f"study.pretrain.warmup_fraction: expected [0, 1); found "
                     f"{p.warmup_fraction}.")
  if not tasks(study):
    raise ValueError("study.tasks: expected at least one task, e.g. tasks.sst2 = dict(config="
                     "'configs/finetune/sst2.py', overrides=dict(train_file=...)); found none.")
  for name in tasks(study):
    load_task_config(study, name)


def _reference(study):
  """The schema, with this study's own arm and task names (their contents are checked
  separately: overrides are keys of other schemas)."""
  ref = study_config()
  ref.arms = ml_collections.ConfigDict({k: study.arms[k] for k in study.arms.keys()})
  ref.tasks = ml_collections.ConfigDict({k: study.tasks[k] for k in study.tasks.keys()})
  return ref
