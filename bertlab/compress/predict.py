"""Logits of a task model, float or int8, over a whole split: what evaluation and benchmarks run."""

from __future__ import annotations

import jax
import numpy as np

from bertlab.compress import int8_inference
from bertlab.tasks.models import INPUT_KEYS, TaskModel


def predict_fn(model: TaskModel, int8_mode: str | None = None):
  """A jit'ed (params, inputs) -> logits; `int8_mode` ('dequantize', 'int8') for params from
  `quantize.quantize_params`, None for float params."""
  def predict(params, inputs):
    args = tuple(inputs[k] for k in INPUT_KEYS)
    if int8_mode is None:
      return model.apply({"params": params}, *args, True, method=TaskModel.logits)
    return int8_inference.quantized_apply(model, params, *args, True, mode=int8_mode,
                                          method=TaskModel.logits)
  return jax.jit(predict)


def batches(split, batch_size: int):
  """Input batches of `split` in order; the last is padded with copies of row 0 (an
  all-padding row would attend to nothing). Yields (inputs, number of real rows)."""
  n = len(split)
  for start in range(0, n, batch_size):
    index = np.arange(start, start + batch_size)
    real = int(min(batch_size, n - start))
    index[real:] = 0
    yield {k: split.inputs[k][index] for k in INPUT_KEYS}, real


def predict_split(predict, params, split, batch_size: int) -> np.ndarray:
  """Logits [N, ...] of every row of `split`."""
  out = [np.asarray(predict(params, inputs))[:real] for inputs, real in batches(split, batch_size)]
  return np.concatenate(out)
