"""Hugging Face BERT / ALBERT / RoBERTa / ELECTRA checkpoints <-> bertlab encoder params.

One table per family names, for each HF module, the leaf of our param tree it fills and how
its layout changes (`RULES`): torch Linear weights are [out, in], our kernels [in, out], and
attention projections split H into [N heads, D]. The same table drives both directions, and
heads (MLM, NSP/SOP, RTD) can be added as more `TensorSpec`s over their own param trees.
SpanBERT checkpoints are `model_type: bert`.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

from bertlab.convert import checkpoint_io
from bertlab.convert.hf_config import FAMILIES, encoder_config_from_hf
from bertlab.encoder import Encoder, EncoderConfig

log = logging.getLogger(__name__)

# rule -> (HF shape from our per-group shape s, HF -> ours, ours -> HF).
RULES = {
    "same": (lambda s: tuple(s), lambda w, s: w, lambda x: x),
    "flat": (lambda s: (math.prod(s),), lambda w, s: w.reshape(s), lambda x: x.reshape(-1)),
    # torch Linear [out, in] -> kernel [in, out...] (query/key/value: out = N x D).
    "linear": (lambda s: (math.prod(s[1:]), s[0]), lambda w, s: w.T.reshape(s),
               lambda x: x.reshape(x.shape[0], -1).T),
    # attention output: torch [H, N*D] -> kernel [N, D, H].
    "linear_from_heads": (lambda s: (s[2], s[0] * s[1]), lambda w, s: w.T.reshape(s),
                          lambda x: x.reshape(-1, x.shape[-1]).T),
}
# Kind of HF module -> its tensors: (HF parameter, our leaf, rule).
MODULE_KINDS = {
    "embed": (("weight", "embedding", "same"),),
    "norm": (("weight", "scale", "same"), ("bias", "bias", "same")),
    "dense": (("weight", "kernel", "linear"), ("bias", "bias", "same")),
    "dense_to_heads": (("weight", "kernel", "linear"), ("bias", "bias", "flat")),
    "dense_from_heads": (("weight", "kernel", "linear_from_heads"), ("bias", "bias", "same")),
}


@dataclasses.dataclass(frozen=True)
class TensorSpec:
  """HF tensor `hf` <-> our leaf `ours` (a path); `group` indexes a stacked [G, ...] leaf."""

  hf: str
  ours: tuple[str, ...]
  rule: str
  group: int | None = None


def module_specs(hf_module: str, ours: tuple[str, ...], kind: str, group=None) -> list[TensorSpec]:
  """The TensorSpecs of one HF module (e.g. a Linear or a LayerNorm) of kind `MODULE_KINDS`."""
  return [TensorSpec(f"{hf_module}.{p}", ours + (leaf,), rule, group)
          for p, leaf, rule in MODULE_KINDS[kind]]


def encoder_specs(config: EncoderConfig, model_type: str) -> list[TensorSpec]:
  """Every tensor of a bare HF `{Bert,Albert,Roberta,Electra}Model` with `config`'s shapes."""
  fam = FAMILIES[model_type]
  specs = []
  for hf, ours, kind in fam.embeddings:
    specs += module_specs(hf, ours, kind)
  if config.embed_dim != config.hidden_size:
    specs += module_specs(fam.projection, ("projection",), "dense")
  for g in range(config.num_groups):
    for hf, ours, kind in fam.layer_modules:
      specs += module_specs(fam.layer.format(g=g) + "." + hf, ("stack", "layers") + ours, kind, g)
  if config.use_pooler:
    specs += module_specs(fam.pooler, ("pooler", "dense"), "dense")
  return specs


def encoder_param_shapes(config: EncoderConfig) -> dict:
  """The encoder's param tree as ShapeDtypeStructs (nothing is initialised)."""
  ids = jnp.zeros((1, 1), jnp.int32)
  abstract = jax.eval_shape(lambda: Encoder(config).init(jax.random.key(0), ids))
  return nn.unbox(abstract["params"])


def params_from_state(state: dict, specs, shapes: dict, prefix: str = ""):
  """Fills the param tree `shapes` from HF tensors `state[prefix + spec.hf]`.

  Returns (params as float32 numpy, problems, used names): problems lists every missing or
  mis-shaped tensor, for the caller to report at once with whatever else it finds.
  """
  flat = {path: leaf.shape for path, leaf in _flatten(shapes)}
  # Every leaf (and every group of a stacked one) must be filled: a gap is a table bug.
  covered = {(s.ours, s.group) for s in specs}
  stacked = {s.ours for s in specs if s.group is not None}
  for path, shape in flat.items():
    lost = [g for g in (range(shape[0]) if path in stacked else [None]) if (path, g) not in covered]
    if lost:
      raise RuntimeError(f"bertlab bug: no TensorSpec fills {'/'.join(path)} (groups {lost})")
  out = {path: np.zeros(shape, np.float32) for path, shape in flat.items()}
  problems, used = [], set()
  for spec in specs:
    name, full = prefix + spec.hf, flat[spec.ours]
    shape = full[1:] if spec.group is not None else full
    want = RULES[spec.rule][0](shape)
    if name not in state:
      problems.append(f"missing    {name}: expected shape {want}")
      continue
    used.add(name)
    w = np.asarray(state[name])
    if w.shape != want or not _is_float(w.dtype):
      problems.append(f"mis-shaped {name}: expected {want} float, found {w.shape} {w.dtype}")
      continue
    x = RULES[spec.rule][1](w.astype(np.float32), shape)
    if spec.group is None:
      out[spec.ours] = x
    else:
      out[spec.ours][spec.group] = x
  return _unflatten(out), problems, used


def state_from_params(params: dict, specs, prefix: str = "") -> dict[str, np.ndarray]:
  """The inverse of `params_from_state`: HF tensor names -> float32 numpy arrays."""
  flat = dict(_flatten(params))
  state = {}
  for spec in specs:
    x = np.asarray(flat[spec.ours], np.float32)
    x = x[spec.group] if spec.group is not None else x
    state[prefix + spec.hf] = np.ascontiguousarray(RULES[spec.rule][2](x))
  return state


def encoder_params_from_state(state: dict, config: EncoderConfig, model_type: str,
                              prefix: str = ""):
  """Our encoder params from an HF state dict; returns (params, names of unused tensors).

  Raises one ValueError listing every missing or mis-shaped encoder tensor.
  """
  specs = encoder_specs(config, model_type)
  params, problems, used = params_from_state(state, specs, encoder_param_shapes(config), prefix)
  if problems:
    raise ValueError(_problem_report(problems, model_type, prefix))
  return params, sorted(set(state) - used)


def encoder_state_from_params(params: dict, config: EncoderConfig, model_type: str,
                              prefix: str = "") -> dict[str, np.ndarray]:
  """HF tensors of a bare `{Family}Model` (names as `state_dict()`, with `prefix`) from params."""
  return state_from_params(params, encoder_specs(config, model_type), prefix)


def encoder_from_hf(hf_config: dict, state: dict):
  """(EncoderConfig, params, ignored tensor names) from a parsed config.json and state dict.

  The state may come from a bare model or one with heads (`bert.`-style prefix): head tensors
  and buffers are ignored and listed; any other tensor is an error. A checkpoint without
  pooler tensors (e.g. BertForMaskedLM) gives `use_pooler=False`.
  """
  config = encoder_config_from_hf(hf_config)
  model_type = hf_config["model_type"]
  fam = FAMILIES[model_type]
  state = {_legacy_name(k): v for k, v in state.items()}
  prefix = model_type + "." if any(k.startswith(model_type + ".") for k in state) else ""
  if config.use_pooler and not any(k.startswith(prefix + fam.pooler + ".") for k in state):
    log.info("no %s%s tensors in the checkpoint: use_pooler=False", prefix, fam.pooler)
    config = config.replace(use_pooler=False)
  specs = encoder_specs(config, model_type)
  params, problems, used = params_from_state(state, specs, encoder_param_shapes(config), prefix)
  ignored = []
  for name in sorted(set(state) - used):
    under_prefix = name.startswith(prefix)
    is_buffer = under_prefix and name[len(prefix):] in fam.buffers
    # Heads sit beside the `bert.`-style prefix; a bare model's keys have no head module.
    is_head = (not under_prefix or not prefix) and name.split(".")[0] in fam.heads
    if is_buffer or is_head:
      ignored.append(name)
    else:
      problems.append(f"unexpected {name}: shape {tuple(np.shape(state[name]))}")
  if problems:
    raise ValueError(_problem_report(problems, model_type, prefix))
  if ignored:
    log.info("ignored %d head/buffer tensors: %s", len(ignored), ignored)
  return config, params, ignored


def load_encoder(path: str) -> tuple[EncoderConfig, dict]:
  """(EncoderConfig, params) of the HF checkpoint directory `path` (config.json + weights).

  params: nested dicts of float32 numpy arrays, the form `Encoder(config).apply` takes.
  Ignored head tensors are logged; `encoder_from_hf` also returns them.
  """
  hf_config = checkpoint_io.read_config(path)
  encoder_config_from_hf(hf_config)  # reject an unsupported config before reading weights
  state = checkpoint_io.read_state(path)
  try:
    config, params, _ = encoder_from_hf(hf_config, state)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from e
  return config, params


def _problem_report(problems, model_type, prefix) -> str:
  kinds = [p.split()[0] for p in problems]
  counts = ", ".join(f"{kinds.count(k)} {k}" for k in ("missing", "mis-shaped", "unexpected")
                     if k in kinds)
  return (f"the checkpoint does not match an HF {model_type} encoder built from its config.json "
          f"(tensor prefix {prefix!r}); {len(problems)} problem(s) ({counts}):\n  "
          + "\n  ".join(problems)
          + "\nCheck that config.json belongs to these weights (sizes, layers, "
          "embedding_size, num_hidden_groups) and that the file is a whole checkpoint.")


def _legacy_name(name: str) -> str:
  # Checkpoints converted from TF1 (e.g. bert-base-uncased) name LayerNorm gamma/beta.
  for old, new in ((".gamma", ".weight"), (".beta", ".bias")):
    if name.endswith(".LayerNorm" + old):
      return name[: -len(old)] + new
  return name


def _is_float(dtype) -> bool:
  return np.issubdtype(dtype, np.floating) or dtype == ml_dtypes.bfloat16


def _flatten(tree, path=()):
  if isinstance(tree, dict):
    for k, v in tree.items():
      yield from _flatten(v, path + (k,))
  else:
    yield path, tree


def _unflatten(flat: dict) -> dict:
  tree = {}
  for path, v in flat.items():
    node = tree
    for k in path[:-1]:
      node = node.setdefault(k, {})
    node[path[-1]] = v
  return tree
