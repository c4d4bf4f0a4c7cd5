"""Reading a local Hugging Face checkpoint directory: `config.json` and its tensors as numpy.

Only formats that cannot run code are read: safetensors, and PyTorch pickles through
`torch.load(..., weights_only=True)` (torch is then needed; it is imported only for them).
Sharded checkpoints (`*.index.json` beside the shards) are read whole.
"""

from __future__ import annotations

import json
import os

import numpy as np

CONFIG = "config.json"
# In Hugging Face's order of preference: safetensors first.
WEIGHTS = ("model.safetensors", "model.safetensors.index.json",
           "pytorch_model.bin", "pytorch_model.bin.index.json")
_UNSUPPORTED = {"tf_model.h5": "TensorFlow", "flax_model.msgpack": "Flax"}


def read_config(path: str) -> dict:
  """The parsed `config.json` of the checkpoint directory `path`."""
  _check_dir(path)
  file = os.path.join(path, CONFIG)
  if not os.path.isfile(file):
    raise FileNotFoundError(
        f"{file} does not exist: a Hugging Face checkpoint directory needs the config.json "
        f"written by `model.save_pretrained(dir)`; found {_listing(path)}")
  try:
    with open(file, encoding="utf-8") as f:
      config = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ValueError(f"{file} is not valid JSON ({e}); save the model again") from e
  if not isinstance(config, dict):
    raise ValueError(f"{file}: expected a JSON object, found {type(config).__name__}")
  return config


def weights_file(path: str) -> str:
  """The weights file (or shard index) of the checkpoint directory `path`."""
  _check_dir(path)
  for name in WEIGHTS:
    if os.path.isfile(os.path.join(path, name)):
      return os.path.join(path, name)
  present = [f"{n} ({fw})" for n, fw in _UNSUPPORTED.items()
             if os.path.exists(os.path.join(path, n))]
  hint = (f"; {', '.join(present)} cannot be read here: load it with transformers and "
          "`save_pretrained(dir)` it as PyTorch/safetensors") if present else ""
  raise FileNotFoundError(
      f"no weights in {path}: expected one of {list(WEIGHTS)}, found {_listing(path)}{hint}")


def read_state(path: str) -> dict[str, np.ndarray]:
  """All tensors of the checkpoint directory `path`, by their stored names, dtypes kept.

  bfloat16 tensors come back as `ml_dtypes.bfloat16` arrays (numpy has no bfloat16).
  """
  file = weights_file(path)
  if not file.endswith(".index.json"):
    return _read_file(file)
  try:
    with open(file, encoding="utf-8") as f:
      weight_map = json.load(f)["weight_map"]
  except (json.JSONDecodeError, KeyError, TypeError) as e:
    raise ValueError(f"{file}: expected a shard index {{'weight_map': {{name: file}}}} ({e}); "
                     "save the model again") from e
  state = {}
  for shard in sorted(set(weight_map.values())):
    shard_file = os.path.join(path, shard)
    if not os.path.isfile(shard_file):
      raise FileNotFoundError(f"{shard_file}, listed in {file}, does not exist; the download "
                              "is incomplete: fetch the missing shard")
    state.update(_read_file(shard_file))
  missing = sorted(set(weight_map) - set(state))
  if missing:
    raise ValueError(f"{file} lists tensors that its shards lack: {missing}; the shards and "
                     "the index disagree: fetch or save the checkpoint again")
  return state


def _read_file(file: str) -> dict[str, np.ndarray]:
  return _read_safetensors(file) if file.endswith(".safetensors") else _read_torch(file)


def _read_safetensors(file: str) -> dict[str, np.ndarray]:
  from safetensors import SafetensorError, safe_open

  state = {}
  try:
    with safe_open(file, framework="numpy") as f:
      for name in f.keys():
        if f.get_slice(name).get_dtype() == "BF16":
          # numpy cannot hold bfloat16: read through jax, which returns ml_dtypes arrays.
          with safe_open(file, framework="flax") as fj:
            state[name] = np.asarray(fj.get_tensor(name))
        else:
          state[name] = f.get_tensor(name)
  except SafetensorError as e:
    raise ValueError(f"{file} is not a complete safetensors file ({e}); it is probably "
                     "truncated or corrupt: download or save it again") from e
  return state


def _read_torch(file: str) -> dict[str, np.ndarray]:
  try:
    import torch
  except ImportError as e:
    raise ImportError(f"{file} is a PyTorch checkpoint and reading it needs torch "
                      "(pip install torch), or re-save the model as safetensors") from e
  try:
    # weights_only: unpickling anything else could run code from the file.
    state = torch.load(file, map_location="cpu", weights_only=True)
  except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
    first_line = str(e).strip().splitlines()[0] if str(e).strip() else ""
    raise ValueError(
        f"{file} cannot be read as a PyTorch state dict with weights_only=True "
        f"({type(e).__name__}: {first_line}); it may be truncated or corrupt, or hold objects "
        "other than tensors: download it again or re-save it with `save_pretrained(dir)`") from e
  if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
    raise ValueError(f"{file}: expected a dict of tensor names to tensors, found "
                     f"{type(state).__name__}; save the model with `save_pretrained(dir)`")
  return {name: _torch_to_numpy(t) for name, t in state.items()}


def _torch_to_numpy(t) -> np.ndarray:
  import ml_dtypes
  import torch

  t = t.detach().cpu().contiguous()
  if t.dtype == torch.bfloat16:
    return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
  return t.numpy()


def _check_dir(path: str):
  if not os.path.isdir(path):
    what = "is a file, not a directory" if os.path.exists(path) else "does not exist"
    raise FileNotFoundError(
        f"checkpoint directory {path} {what}: pass the directory that `save_pretrained(dir)` "
        "wrote (config.json with model.safetensors or pytorch_model.bin); bertlab does not "
        "download from the Hub, so fetch hub checkpoints first (e.g. `hf download NAME "
        "--local-dir DIR`)")


def _listing(path: str) -> str:
  names = sorted(os.listdir(path))
  return str(names[:20] + ["..."] if len(names) > 20 else names) if names else "an empty directory"
