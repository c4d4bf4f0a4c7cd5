"""Our training runs -> `Bundle`: pretraining workdirs (train.py) and fine-tuning ones
(finetune.py).

  pretraining  WORKDIR/config.json (`family`, `model`, `generator`, `objective`),
               WORKDIR/checkpoints/STEP/state (orbax TrainState: only `params` is read, from
               the newest step that can be read), the tokenizer in data.tokenizer_dir or
               WORKDIR/cache/tokenizer-*/.
  fine-tuning  WORKDIR/config.json (`task`, `init_from`), WORKDIR/seed_S/checkpoint (the
               selected params of seed S: the median seed by default). The encoder's config
               and the tokenizer come from `init_from`, which must still exist.
"""

from __future__ import annotations

import glob
import json
import logging
import os

import jax
import numpy as np

from bertlab.convert.bundle import Bundle
from bertlab.encoder import EncoderConfig

log = logging.getLogger(__name__)


def is_pretraining_run(path: str) -> bool:
  cfg = _read_json(os.path.join(path, "config.json"), missing_ok=True) or {}
  return "family" in cfg and "model" in cfg


def is_finetuning_run(path: str) -> bool:
  cfg = _read_json(os.path.join(path, "config.json"), missing_ok=True) or {}
  return "task" in cfg and "init_from" in cfg


def bundle_from_workdir(path: str, step: int | None = None, seed: int | None = None) -> Bundle:
  """The model of a pretraining run (at `step`, default the newest readable) or of a
  fine-tuning run (its `seed`, default the median one)."""
  if is_finetuning_run(path):
    return _finetuning(path, seed)
  from bertlab.objectives.registry import build_model

  run = _read_json(os.path.join(path, "config.json"))
  family, obj = run["family"], run.get("objective", {})
  config = encoder_config(run["model"])
  generator = encoder_config(run["generator"]) if family == "electra" else None
  model = build_model(family, config, generator, rtd_weight=obj.get("rtd_weight", 50.0),
                      temperature=obj.get("temperature", 1.0),
                      sbo_max_targets=obj.get("sbo_max_targets", 15),
                      sbo_position_dim=obj.get("sbo_position_dim", 200),
                      disc_updates_embeddings=obj.get("disc_updates_embeddings", True))
  params, step = _restore_pretraining(path, step)
  return Bundle(family, model, params, tokenizer_dir(path, run), source=f"{path} step {step}",
                notes=[f"bertlab {family} pretraining run {path}, step {step}"])


def encoder_config(fields: dict) -> EncoderConfig:
  fields = dict(fields)
  fields["embedding_size"] = fields.get("embedding_size") or None  # the run config's 0 = None
  return EncoderConfig.from_dict(fields)


def tokenizer_dir(workdir: str, run: dict) -> str | None:
  """The run's tokenizer directory: data.tokenizer_dir, else data.prepared_dir/tokenizer, else
  the newest cache/tokenizer-*/."""
  data = run.get("data", {})
  if data.get("tokenizer_dir") and os.path.isdir(data["tokenizer_dir"]):
    return data["tokenizer_dir"]
  if data.get("prepared_dir") and os.path.isdir(os.path.join(data["prepared_dir"], "tokenizer")):
    return os.path.join(data["prepared_dir"], "tokenizer")  # a corpus prepared ahead of time
  cache = data.get("cache_dir") or os.path.join(workdir, "cache")
  found = sorted(glob.glob(os.path.join(cache, f"tokenizer-{data.get('tokenizer', '*')}-*")),
                 key=os.path.getmtime)
  if not found:
    log.warning("%s: no tokenizer in data.tokenizer_dir or %s/tokenizer-*/", workdir, cache)
  return found[-1] if found else None


def _restore_pretraining(workdir: str, step: int | None):
  root = os.path.join(workdir, "checkpoints")
  steps = sorted((int(n) for n in (os.listdir(root) if os.path.isdir(root) else [])
                  if n.isdigit() and os.path.isdir(os.path.join(root, n, "state"))), reverse=True)
  if step is not None:
    if step not in steps:
      raise FileNotFoundError(f"{root}: no checkpoint at step {step}; found steps {steps}")
    steps = [step]
  if not steps:
    raise FileNotFoundError(f"{root}: expected checkpoints STEP/state written by train.py; "
                            "found none. Train first (python train.py --workdir ...)")
  errors = []
  for s in steps:
    try:
      return restore_params(os.path.join(root, str(s), "state"), "params"), s
    except Exception as e:  # noqa: BLE001 - a half-written checkpoint falls back to the previous
      errors.append(f"step {s}: {type(e).__name__}: {str(e)[:200]}")
      log.warning("%s: step %d cannot be restored (%s); trying the one before", root, s, e)
  raise ValueError(f"{root}: no checkpoint could be restored:\n  " + "\n  ".join(errors))


def restore_params(directory: str, key: str | None = None) -> dict:
  """The numpy tree of an orbax PyTree checkpoint (its subtree `key` only, if given: the
  optimizer state of a TrainState is never read)."""
  import orbax.checkpoint as ocp

  directory = os.path.abspath(directory)  # orbax wants absolute paths
  checkpointer = ocp.PyTreeCheckpointer()
  meta = checkpointer.metadata(directory)
  tree = getattr(getattr(meta, "item_metadata", meta), "tree", None) or meta
  saved = tree[key] if key else tree
  item = jax.tree_util.tree_map(lambda m: np.zeros(m.shape, m.dtype), dict(saved))
  args = jax.tree_util.tree_map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), item)
  if key:
    out = checkpointer.restore(directory, args=ocp.args.PyTreeRestore(
        item={key: item}, restore_args={key: args}, partial_restore=True))
    return out[key]
  return checkpointer.restore(directory, args=ocp.args.PyTreeRestore(item=item,
                                                                     restore_args=args))


def _finetuning(path: str, seed: int | None) -> Bundle:
  from bertlab.convert.task_heads import task_model
  from bertlab.tasks.finetune_data import task_info

  run = _read_json(os.path.join(path, "config.json"))
  info = task_info(run["task"])
  if info.kind not in ("classification", "regression", "token_classification", "span"):
    raise ValueError(f"{path}: unknown task kind {info.kind!r}")
  if seed is None:
    summary = _read_json(os.path.join(path, "eval_results_seeds.json"), missing_ok=True) or {}
    seed = summary.get("median_seed")
  seeds = sorted(int(n.split("_")[1]) for n in os.listdir(path)
                 if n.startswith("seed_") and os.path.isdir(os.path.join(path, n, "checkpoint")))
  if seed is None and seeds:
    seed = seeds[0]
  if seed not in seeds:
    raise FileNotFoundError(f"{path}: expected seed_{seed}/checkpoint; found checkpoints of "
                            f"seeds {seeds} (runs with save_checkpoint=False keep none)")
  params = restore_params(os.path.join(path, f"seed_{seed}", "checkpoint"))
  family, config, tokenizer = _init_from(run["init_from"], path)
  if run.get("vocab_multiple"):  # fine-tuned with its vocabulary padded (finetune_config)
    config = config.replace(vocab_multiple=int(run["vocab_multiple"]))
  num_labels = int(np.shape(params["head"]["out"]["kernel"])[-1])
  model = task_model(config, family, info.kind, num_labels, run.get("classifier_dropout", 0.1))
  names = list(info.label_names or ())
  labels = (names if len(names) == num_labels else [f"LABEL_{i}" for i in range(num_labels)]
            ) if info.kind == "classification" else None
  return Bundle(family, model, params, tokenizer, labels=labels, source=f"{path} seed {seed}",
                notes=[f"bertlab fine-tuning run {path} ({run['task']}, {info.kind}), seed "
                       f"{seed}; encoder config and tokenizer from {run['init_from']}"])


def _init_from(init: str, run_dir: str):
  """(family, encoder config, tokenizer dir) of a fine-tuning run's starting point."""
  cfg = _read_json(os.path.join(init, "config.json"), missing_ok=True)
  if cfg is None:
    raise FileNotFoundError(f"{run_dir}: its init_from {init!r} has no config.json; the "
                            "encoder's config and tokenizer are read from there: restore it")
  if "family" in cfg and "model" in cfg:
    return cfg["family"], encoder_config(cfg["model"]), tokenizer_dir(init, cfg)
  from bertlab.convert.hf_config import encoder_config_from_hf
  from bertlab.convert.ours import has_tokenizer

  return (cfg["model_type"], encoder_config_from_hf(cfg).replace(dtype="float32"),
          init if has_tokenizer(init) else None)


def _read_json(file: str, missing_ok: bool = False):
  if missing_ok and not os.path.isfile(file):
    return None
  try:
    with open(file, encoding="utf-8") as f:
      return json.load(f)
  except json.JSONDecodeError as e:
    raise ValueError(f"{file} is not valid JSON ({e})") from e
