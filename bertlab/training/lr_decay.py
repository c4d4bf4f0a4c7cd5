"""Layer-wise learning-rate decay (ELECTRA, Clark et al. 2020 §A; google-research/electra).

Each parameter trains at lr · d^(L+2−depth), L = num_layers: the embeddings (and ELECTRA's
E->H projection) at depth 0, layer i (0-based) at depth i+1, the task head at depth L+2 (the
full rate). The reference leaves depth L+1 unused; here it holds what sits between the last
layer and the head: the pooler and a pre-LN stack's final LayerNorm.

Our layers are stacked on a leading axis [G, ...] under `stack/layers` (G weight groups, see
bertlab/encoder/stack.py), so the multiplier of such a leaf is an array [G, 1, ...], one value
per slice. With ALBERT's sharing a group serves R = L / G consecutive layers; it gets the mean
of their multipliers, which is exact for G = L and gives the one shared set of ALBERT
(G = 1) the average rate of the whole stack, rather than that of its first or last use.

Scaling an optimizer's final update by m is the same as scaling its learning rate by m (the
weight-decay term included), so the transform goes last in the chain.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

_EMBEDDINGS = ("embeddings", "projection")
_TOP_OF_STACK = ("pooler", "final_norm")


def _names(path) -> list[str]:
  return [str(getattr(k, "key", getattr(k, "name", k))) for k in path]


def depth_multiplier(names, shape, num_layers: int, decay: float):
  """The learning-rate multiplier of one leaf: a float, or a [G, 1, ...] array for a leaf
  stacked over G layer groups.

  names: the leaf's path, e.g. ('encoder', 'stack', 'layers', 'mlp', 'wi', 'kernel');
  anything outside 'encoder' is the task head.
  """
  rate = lambda depth: decay ** (num_layers + 2 - depth)
  if "encoder" not in names:
    return rate(num_layers + 2)
  if any(n in names for n in _TOP_OF_STACK):
    return rate(num_layers + 1)
  if "layers" in names and "stack" in names:
    groups = shape[0]
    if num_layers % groups:
      raise ValueError(f"lr_decay: {'/'.join(names)} stacks {groups} layer groups, which do "
                       f"not divide num_layers={num_layers}; pass the encoder's num_layers.")
    per_group = num_layers // groups
    depths_GxR = 1 + np.arange(num_layers).reshape(groups, per_group)
    m_G = np.mean(rate(depths_GxR.astype(np.float64)), axis=1)
    return m_G.astype(np.float32).reshape((groups,) + (1,) * (len(shape) - 1))
  if any(n in names for n in _EMBEDDINGS):
    return rate(0)
  raise ValueError(f"lr_decay: no depth for parameter {'/'.join(names)}; expected it under "
                   f"encoder/{{{', '.join(_EMBEDDINGS + ('stack',) + _TOP_OF_STACK)}}} or "
                   "outside the encoder (a head).")


def multipliers(params, num_layers: int, decay: float):
  """The tree of multipliers (floats or [G, 1, ...] arrays) for a `TaskModel` param tree."""
  return jax.tree_util.tree_map_with_path(
      lambda path, x: depth_multiplier(_names(path), np.shape(x), num_layers, decay), params)


def scale_by_depth(num_layers: int, decay: float) -> optax.GradientTransformation:
  """Multiplies each update by its layer's multiplier; decay = 1 leaves updates unchanged.

  Chain it after the optimizer: `optax.chain(adamw(...), scale_by_depth(L, 0.8))`.
  """
  if not 0.0 < decay <= 1.0:
    raise ValueError(f"layerwise_lr_decay: expected a factor in (0, 1] (ELECTRA: 0.8 base, "
                     f"0.9 large; 1 = off); found {decay}.")

  def init_fn(params):
    del params
    return optax.EmptyState()

  def update_fn(updates, state, params=None):
    del params
    # Multipliers are built from static paths and shapes, so they are constants in the jit.
    scale = multipliers(updates, num_layers, decay)
    updates = jax.tree_util.tree_map(lambda u, m: (u * jnp.asarray(m, u.dtype)), updates, scale)
    return updates, state

  return optax.GradientTransformation(init_fn, update_fn)
