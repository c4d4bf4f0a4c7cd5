"""Set a model's vocabulary padding (`EncoderConfig.vocab_multiple`) and resize its params.

Hugging Face checkpoints hold exactly `vocab_size` rows; our pretraining configs pad the word
table and the MLM biases to a multiple of 128 so that a tensor axis divides them. Import pads
when asked (`python -m bertlab.convert import --vocab-multiple 128`), export always cuts back
to the real size, so a round trip gives the source's tensors and shapes. Padded rows are zeros:
heads mask their logits (bertlab/encoder/vocab.py), so their values never matter.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bertlab.convert.bundle import Bundle, flatten, param_shapes, unflatten
from bertlab.encoder import EncoderConfig


def with_vocab_multiple(bundle: Bundle, multiple: int) -> Bundle:
  """`bundle` with every EncoderConfig of its model at `vocab_multiple=multiple` and each
  param with a vocabulary axis padded with zeros (or cut) to the new `padded_vocab_size`.
  Rows below `vocab_size` are kept as they are. The bundle itself when nothing changes."""
  if not isinstance(multiple, int) or isinstance(multiple, bool) or multiple < 1:
    raise ValueError(f"vocab_multiple: expected a positive int, got {multiple!r}")
  changes = {f.name: v.replace(vocab_multiple=multiple)
             for f in dataclasses.fields(bundle.model)
             if isinstance(v := getattr(bundle.model, f.name), EncoderConfig)
             and v.vocab_multiple != multiple}
  if not changes:
    return bundle
  model = bundle.model.clone(**changes)
  # The leaves whose shapes differ between the two models are exactly those with a
  # vocabulary axis (word table, MLM / SBO biases); the axis is where the sizes differ.
  old = flatten(param_shapes(bundle.model, bundle.halves))
  new = flatten(param_shapes(model, bundle.halves))
  params = {}
  for path, x in flatten(bundle.params).items():
    x = np.asarray(x)
    if path in new and tuple(old[path].shape) != tuple(new[path].shape):
      x = _resize(x, tuple(new[path].shape))
    params[path] = x
  return dataclasses.replace(bundle, model=model, params=unflatten(params))


def _resize(x: np.ndarray, shape: tuple) -> np.ndarray:
  """x zero-padded or cut at the end of every axis to `shape`."""
  x = x[tuple(slice(0, n) for n in shape)]
  return np.pad(x, [(0, n - m) for n, m in zip(shape, x.shape)])
