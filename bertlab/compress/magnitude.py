"""Unstructured magnitude pruning with the gradual schedule of Zhu & Gupta 2017, as optax.

`magnitude_pruning(...)` is a GradientTransformation chained after the optimizer. Its state
holds one mask per prunable tensor, so the masks live in the train state, are sharded like
the weights and are checkpointed and restored with them. On every update it:
  1. at the schedule's pruning steps, recomputes each mask to keep the largest-magnitude
     (1 - s_t) of the tensor's post-update weights (per layer for the scanned stack);
  2. rewrites the update of every pruned weight to -w, so the weight is exactly 0 after
     `optax.apply_updates`, and leaves the other updates bit-for-bit unchanged.
Pruned weights are 0, the smallest magnitudes, so a weight once pruned stays pruned.
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax


def cubic_sparsity(step, final_sparsity: float, begin_step: int, end_step: int,
                   frequency: int, initial_sparsity: float = 0.0):
  """Zhu & Gupta 2017 eq. 1: s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n Δt))^3.

  t0 = begin_step, t0 + n Δt = end_step, Δt = frequency; between pruning steps the value
  of the last pruning step holds; 0 before t0, s_f after the end. `step` may be traced.
  """
  if not (0 <= begin_step < end_step and frequency > 0):
    raise ValueError(f"pruning schedule: expected 0 <= begin_step < end_step and frequency > 0; "
                     f"found begin_step={begin_step}, end_step={end_step}, frequency={frequency}.")
  t = jnp.asarray(step, jnp.float32)
  t_last = begin_step + jnp.floor((t - begin_step) / frequency) * frequency
  progress = jnp.clip((t_last - begin_step) / (end_step - begin_step), 0.0, 1.0)
  s = final_sparsity + (initial_sparsity - final_sparsity) * (1.0 - progress) ** 3
  return jnp.where(t < begin_step, 0.0, s)


def is_pruning_step(step, begin_step: int, end_step: int, frequency: int):
  """True at t0, t0 + Δt, ..., end_step (the masks are recomputed there)."""
  step = jnp.asarray(step)
  return (step >= begin_step) & (step <= end_step) & ((step - begin_step) % frequency == 0)


def default_prunable(path: tuple[str, ...]) -> bool:
  """Dense kernels inside the layer stack (attention and FFN), as Zhu & Gupta prune the
  Transformer's matrices; embeddings, LayerNorm, biases and heads stay dense."""
  return path[-1] == "kernel" and "layers" in path


class MagnitudePruningState(NamedTuple):
  count: jax.Array   # int32: updates applied so far
  masks: object      # per param: bool mask (prunable) or a scalar True (kept dense)


def _names(path) -> tuple[str, ...]:
  # Dict keys only: a flax box adds an attribute step ('.value') that is not a name.
  return tuple(str(k.key) for k in path if hasattr(k, "key"))


def _magnitude_mask(w, sparsity, stacked: bool):
  """True for the weights kept: per slice of the leading axis when `stacked` (one layer of
  the scanned stack each), else per tensor. Exactly floor(s · n) are pruned, bar ties."""
  a_SxM = jnp.abs(w).reshape((w.shape[0], -1) if stacked else (1, -1))
  m = a_SxM.shape[1]
  k = jnp.floor(sparsity * m).astype(jnp.int32)          # how many to prune per slice
  sorted_SxM = jnp.sort(a_SxM, axis=-1)
  threshold_Sx1 = jax.lax.dynamic_slice_in_dim(sorted_SxM, jnp.maximum(k - 1, 0), 1, axis=1)
  keep_SxM = (a_SxM > threshold_Sx1) | (k == 0)
  return keep_SxM.reshape(w.shape)


def magnitude_pruning(final_sparsity: float, begin_step: int, end_step: int,
                      frequency: int = 100, initial_sparsity: float = 0.0,
                      prunable=default_prunable) -> optax.GradientTransformation:
  """Gradual magnitude pruning to `final_sparsity` (fraction of each tensor's weights at 0).

  prunable(path) -> bool picks the tensors by their key path (tuple of names).
  Chain it after the optimizer: `optax.chain(tx, magnitude_pruning(...))`.
  """
  if not 0.0 <= initial_sparsity <= final_sparsity < 1.0:
    raise ValueError(f"magnitude_pruning: expected 0 <= initial_sparsity <= final_sparsity < 1; "
                     f"found {initial_sparsity}, {final_sparsity}.")
  cubic_sparsity(0, final_sparsity, begin_step, end_step, frequency)  # validates the schedule
  is_box = lambda x: isinstance(x, nn.meta.AxisMetadata)

  def init(params):
    def mask_of(path, p):
      # Flax boxes (logical axis names) are kept so that masks shard like their weights.
      value = p.unbox() if is_box(p) else p
      if not prunable(_names(path)):
        return jnp.ones((), bool)
      ones = jnp.ones(value.shape, bool)
      return p.replace_boxed(ones) if is_box(p) else ones
    masks = jax.tree_util.tree_map_with_path(mask_of, params, is_leaf=is_box)
    return MagnitudePruningState(jnp.zeros((), jnp.int32), masks)

  def update(updates, state, params):
    if params is None:
      raise ValueError("magnitude_pruning needs params: call tx.update(grads, state, params).")
    count = state.count + 1

    def recompute(_):
      s = cubic_sparsity(count, final_sparsity, begin_step, end_step, frequency,
                         initial_sparsity)
      def one(path, mask, w, u):
        if mask.ndim == 0:
          return mask
        return _magnitude_mask(w + u, s, stacked="layers" in _names(path))
      return jax.tree_util.tree_map_with_path(one, state.masks, params, updates)

    prune_now = is_pruning_step(count, begin_step, end_step, frequency)
    masks = jax.lax.cond(prune_now, recompute, lambda _: state.masks, None)
    # -w as the update of a pruned weight: apply_updates gives exactly 0 there.
    new_updates = jax.tree_util.tree_map(
        lambda m, u, w: u if m.ndim == 0 else jnp.where(m, u, -w).astype(u.dtype),
        masks, updates, params)
    return new_updates, MagnitudePruningState(count, masks)

  return optax.GradientTransformation(init, update)


def sparsity_of(params, prunable=default_prunable) -> float:
  """Fraction of exact zeros over the prunable tensors of `params`."""
  zeros = total = 0
  for path, w in jax.tree_util.tree_leaves_with_path(params):
    if prunable(_names(path)):
      zeros += int(np.count_nonzero(np.asarray(w) == 0))
      total += w.size
  return zeros / max(total, 1)
