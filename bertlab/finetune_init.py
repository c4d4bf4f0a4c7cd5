"""What fine-tuning starts from (`config.init_from`): encoder config, weights and tokenizer.

Two kinds of directory are accepted:
  * a bertlab pretraining workdir (config.json with `family` and `model`, checkpoints/ written
    by bertlab/training): the newest readable checkpoint's encoder params are restored, and
    nothing else (no optimizer state, no pretraining heads). BERT, ALBERT, RoBERTa and
    SpanBERT models keep the encoder under `encoder/`; ELECTRA's encoder to fine-tune is the
    discriminator with the shared `embeddings`. The tokenizer is the one the run used
    (data.tokenizer_dir, or WORKDIR/cache/tokenizer-*/).
  * a local Hugging Face checkpoint directory (config.json with `model_type`, safetensors or
    PyTorch weights, tokenizer files): read by `convert.task_heads`; a head that fits the
    task (a checkpoint fine-tuned on it) is kept.
  * a directory `python -m bertlab.convert import` wrote (bertlab.json + params.safetensors +
    tokenizer files): its encoder (ELECTRA: the discriminator), and its task head when it is
    one of this task's kind and label count.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os

import jax
import numpy as np

from bertlab.encoder import EncoderConfig

log = logging.getLogger(__name__)
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model")


@dataclasses.dataclass
class Pretrained:
  """family (bert, albert, roberta, electra, spanbert); the encoder's config; params
  {'encoder': ..., 'head': ... or None} as numpy, or None for random_init; the tokenizer's
  directory; `source` describes where it all came from, for logs."""
  family: str
  config: EncoderConfig
  params: dict | None
  tokenizer_dir: str
  source: str


def with_vocab_multiple(pre: Pretrained, multiple: int) -> Pretrained:
  """`pre` with its vocabulary padded to a multiple of `multiple` (config.vocab_multiple): the
  encoder's word table, its one vocabulary-sized param, gets zero rows (or loses padding
  rows) up to the new padded_vocab_size. Task heads have no vocabulary axis."""
  config = pre.config.replace(vocab_multiple=multiple)
  if pre.params is None or config.padded_vocab_size == pre.config.padded_vocab_size:
    return dataclasses.replace(pre, config=config)
  word = pre.params["encoder"]["embeddings"]["word"]
  table = np.asarray(word["embedding"])[:config.padded_vocab_size]
  table = np.pad(table, [(0, config.padded_vocab_size - table.shape[0]), (0, 0)])
  params = {**pre.params, "encoder": {**pre.params["encoder"], "embeddings": {
      **pre.params["encoder"]["embeddings"], "word": {**word, "embedding": table}}}}
  return dataclasses.replace(pre, config=config, params=params)


def _read_json(path: str) -> dict:
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def load_pretrained(path: str, kind: str, num_labels: int, weights: bool = True) -> Pretrained:
  """Reads `path` (see module docstring); `weights=False` skips the params (random init)."""
  from bertlab.convert.ours import is_ours

  if os.path.isdir(path) and is_ours(path):
    return _from_ours(path, kind, num_labels, weights)
  config_file = os.path.join(path, "config.json")
  if not os.path.isdir(path) or not os.path.isfile(config_file):
    found = sorted(os.listdir(path))[:12] if os.path.isdir(path) else "no such directory"
    raise FileNotFoundError(
        f"config.init_from: {path!r} is not a checkpoint; expected a bertlab pretraining "
        "workdir (config.json + checkpoints/), a Hugging Face checkpoint directory "
        "(config.json + model.safetensors + tokenizer files) or one `python -m bertlab.convert "
        f"import` wrote (bertlab.json + params.safetensors); found {found}.")
  cfg = _read_json(config_file)
  if "family" in cfg and "model" in cfg:
    return _from_workdir(path, cfg, weights)
  if "model_type" in cfg:
    return _from_hf(path, cfg, kind, num_labels, weights)
  raise ValueError(f"{config_file}: expected a bertlab run config (keys 'family', 'model') or "
                   f"a Hugging Face config (key 'model_type'); found keys {sorted(cfg)[:12]}.")


def _from_hf(path, hf_config, kind, num_labels, weights) -> Pretrained:
  from bertlab.convert import checkpoint_io, task_heads
  from bertlab.convert.hf_config import encoder_config_from_hf

  family = hf_config["model_type"]
  config = encoder_config_from_hf(hf_config)
  params = None
  if weights:
    state = checkpoint_io.read_state(path)
    try:
      model, params, problems = task_heads.task_params_from_hf(hf_config, state, kind,
                                                               num_labels)
    except ValueError as e:
      raise ValueError(f"{path}: {e}") from e
    config = model.config
    if problems:
      log.info("%s: its task head does not fit this task (%s); a new head is trained",
               path, "; ".join(problems))
  return Pretrained(family, config, params, path, f"Hugging Face {family} checkpoint {path}")


def _from_ours(path, kind, num_labels, weights) -> Pretrained:
  from bertlab.convert.ours import load_ours
  from bertlab.encoder import Encoder
  from bertlab.objectives.electra import ElectraForPretraining
  from bertlab.tasks.models import TaskModel

  bundle = load_ours(path)
  model, params = bundle.model, bundle.params
  if bundle.tokenizer_dir is None:
    raise FileNotFoundError(f"config.init_from: {path} holds no tokenizer files; copy the "
                            "source checkpoint's (vocab.txt, tokenizer.json, ...) into it.")
  head = None
  if isinstance(model, ElectraForPretraining):
    if "discriminator" not in bundle.halves:
      raise ValueError(f"config.init_from: {path} holds only ELECTRA's generator; fine-tune "
                       "the discriminator (import DIR/discriminator, or the pair)")
    config = model.config
    encoder = {"embeddings": params["embeddings"], **params["discriminator"]}
  elif isinstance(model, Encoder):
    config, encoder = model.config, params
  else:  # a pretraining model or a TaskModel: the encoder sits under `encoder/`
    config, encoder = model.config, params["encoder"]
    if isinstance(model, TaskModel) and model.kind == kind and model.num_labels == num_labels:
      head = params["head"]
  source = f"{bundle.family} {type(model).__name__} imported into {path}"
  if not weights:
    return Pretrained(bundle.family, config, None, path, f"architecture of {source}")
  as_numpy = lambda tree: jax.tree_util.tree_map(np.asarray, tree)
  return Pretrained(bundle.family, config,
                    {"encoder": as_numpy(encoder), "head": None if head is None else as_numpy(head)},
                    path, source)


def _encoder_config(model: dict) -> EncoderConfig:
  fields = dict(model)
  fields["embedding_size"] = fields.get("embedding_size") or None
  return EncoderConfig.from_dict(fields)


def _tokenizer_dir(workdir: str, run_config: dict) -> str:
  data = run_config.get("data", {})
  if data.get("tokenizer_dir") and any(
      os.path.exists(os.path.join(data["tokenizer_dir"], f)) for f in _TOKENIZER_FILES):
    return data["tokenizer_dir"]
  if data.get("prepared_dir") and os.path.isdir(os.path.join(data["prepared_dir"], "tokenizer")):
    return os.path.join(data["prepared_dir"], "tokenizer")  # a corpus prepared ahead of time
  cache = data.get("cache_dir") or os.path.join(workdir, "cache")
  kind = data.get("tokenizer", "*")
  found = sorted(glob.glob(os.path.join(cache, f"tokenizer-{kind}-*")), key=os.path.getmtime)
  if not found:
    raise FileNotFoundError(
        f"{workdir}: expected the run's tokenizer in data.tokenizer_dir or "
        f"{cache}/tokenizer-{kind}-*/; found neither. Copy the tokenizer files there.")
  return found[-1]


def _checkpoint_steps(directory: str) -> list[int]:
  if not os.path.isdir(directory):
    return []
  return sorted((int(n) for n in os.listdir(directory)
                 if n.isdigit() and os.path.isdir(os.path.join(directory, n, "state"))),
                reverse=True)


def _restore_subtrees(state_dir: str, keys: list[str]) -> dict:
  """params[key] for each key, restored as numpy from an orbax TrainState checkpoint."""
  import orbax.checkpoint as ocp

  state_dir = os.path.abspath(state_dir)  # orbax finds no item metadata under a relative path
  checkpointer = ocp.PyTreeCheckpointer()
  meta = checkpointer.metadata(state_dir)
  tree = getattr(getattr(meta, "item_metadata", meta), "tree", None) or meta
  saved = tree["params"]
  missing = [k for k in keys if k not in saved]
  if missing:
    raise ValueError(f"{state_dir}: expected params {keys}; the checkpoint holds "
                     f"{sorted(saved)}. Check the run's family in config.json.")
  item = {k: jax.tree_util.tree_map(lambda m: np.zeros(m.shape, m.dtype), saved[k]) for k in keys}
  restore_args = jax.tree_util.tree_map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), item)
  out = checkpointer.restore(state_dir, args=ocp.args.PyTreeRestore(
      item={"params": item}, restore_args={"params": restore_args}, partial_restore=True))
  return out["params"]


def _from_workdir(workdir, run_config, weights) -> Pretrained:
  from bertlab.convert.hf import encoder_param_shapes

  family = run_config["family"]
  config = _encoder_config(run_config["model"])
  tokenizer_dir = _tokenizer_dir(workdir, run_config)
  if not weights:
    return Pretrained(family, config, None, tokenizer_dir, f"{family} architecture of {workdir}")
  steps = _checkpoint_steps(os.path.join(workdir, "checkpoints"))
  if not steps:
    raise FileNotFoundError(f"{workdir}/checkpoints: expected pretraining checkpoints; found "
                            "none. Pretrain first (python train.py ...), or set "
                            "random_init=True to fine-tune the architecture from scratch.")
  keys = ["embeddings", "discriminator"] if family == "electra" else ["encoder"]
  errors = []
  for step in steps:
    state_dir = os.path.join(workdir, "checkpoints", str(step), "state")
    try:
      saved = _restore_subtrees(state_dir, keys)
      break
    except Exception as e:  # noqa: BLE001 - a half-written checkpoint falls back to the previous
      errors.append(f"step {step}: {type(e).__name__}: {str(e)[:200]}")
  else:
    raise RuntimeError(f"{workdir}: no checkpoint could be restored:\n  " + "\n  ".join(errors))
  encoder = ({"embeddings": saved["embeddings"], **saved["discriminator"]}
             if family == "electra" else saved["encoder"])
  want = jax.tree_util.tree_map(lambda s: s.shape, encoder_param_shapes(config))
  found = jax.tree_util.tree_map(np.shape, encoder)
  if want != found:
    raise ValueError(f"{workdir} step {step}: the checkpoint's encoder params do not match "
                     "config.json's model; was config.json edited after pretraining?")
  return Pretrained(family, config, {"encoder": encoder, "head": None}, tokenizer_dir,
                    f"bertlab {family} workdir {workdir}, step {step}")


def merge_params(fresh, loaded: dict | None):
  """`fresh` (the model's initialised tree) with every leaf `loaded` has in the same place;
  returns (params as numpy, names of the leaves left fresh, e.g. a new task head)."""
  flat_loaded = {}
  if loaded is not None:
    for path, x in jax.tree_util.tree_leaves_with_path(loaded):
      flat_loaded[jax.tree_util.keystr(path)] = x
  kept = []

  def pick(path, x):
    name = jax.tree_util.keystr(path)
    y = flat_loaded.get(name)
    if y is None:
      kept.append(name)
      return np.asarray(jax.device_get(x))
    if tuple(np.shape(y)) != tuple(x.shape):
      raise ValueError(f"params{name}: the checkpoint holds shape {tuple(np.shape(y))}, the "
                       f"model expects {tuple(x.shape)}; the checkpoint and its config differ.")
    return np.asarray(y, np.float32)

  return jax.tree_util.tree_map_with_path(pick, fresh), kept
