"""Checking a config against the schema of its defaults: unknown, missing and mistyped keys.

Shared by the pretraining, fine-tuning and distillation configs, so every entry point fails
the same way before anything compiles: an unknown key names the nearest valid one.
"""

from __future__ import annotations

import difflib

import ml_collections


def walk(cfg, prefix=""):
  """(dotted key, value) for every leaf of a ConfigDict."""
  for k, v in cfg.items():
    if isinstance(v, ml_collections.ConfigDict):
      yield from walk(v, f"{prefix}{k}.")
    else:
      yield f"{prefix}{k}", v


def nearest_key(key: str, known) -> str:
  """'; did you mean X?' for the closest known key (whole key, then its last part)."""
  close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)
  if not close:  # "lr" is far from "optimizer.learning_rate" as a whole; try the last part
    by_leaf = {k.rsplit(".", 1)[-1]: k for k in known}
    leaf = difflib.get_close_matches(key.rsplit(".", 1)[-1], list(by_leaf), n=1, cutoff=0.5)
    close = [by_leaf[leaf[0]]] if leaf else []
  return f"; did you mean {close[0]!r}?" if close else f"; valid keys: {sorted(known)}"


def check_keys(config: ml_collections.ConfigDict, reference: ml_collections.ConfigDict,
               start_from: str) -> None:
  """ValueError unless `config` has exactly `reference`'s keys with compatible value types.

  `start_from` names the function that builds a complete config, for the error message.
  """
  known = dict(walk(reference))
  present = dict(walk(config))
  for key, value in present.items():
    if key not in known:
      raise ValueError(f"unknown config key {key!r}" + nearest_key(key, known))
    want = known[key]
    if want is None or value is None:
      continue
    if isinstance(want, float) and isinstance(value, int) and not isinstance(value, bool):
      continue
    if isinstance(want, tuple) and isinstance(value, list):
      continue
    if not isinstance(value, type(want)):
      raise ValueError(f"config.{key}: expected {type(want).__name__}, got {value!r}")
  missing = sorted(set(known) - set(present))
  if missing:
    raise ValueError(f"config is missing keys {missing}; start from {start_from}")
