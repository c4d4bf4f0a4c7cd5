"""Removing attention heads for real: smaller q/k/v/out kernels, so the pruned model is faster.

Every weight group keeps the same number K of heads. The stack is one `nn.scan` over
[G, ...] arrays with a single `num_heads`, so a per-layer count would need ragged stacks (or
one module per layer, losing the scan); Michel et al.'s global ranking, which prunes layers
unevenly, is still available as a mask (`head_importance.mask_heads`) on the unpruned model,
at no speed-up. Each kept head keeps its width D (`EncoderConfig.attention_head_size`), so
the pruned model computes exactly what the masked one does.
"""

from __future__ import annotations

import numpy as np

from bertlab.compress.head_importance import ATTENTION, head_grid
from bertlab.compress.tree_paths import get_path, set_path
from bertlab.encoder import EncoderConfig


def heads_to_keep(importance_GxN: np.ndarray, prune_fraction: float) -> np.ndarray:
  """[G, K] ascending indices of each group's K most important heads.

  K = N - round(prune_fraction * N), at least 1 (a layer with no head has no attention).
  Ties go to the lower index, so the choice is deterministic.
  """
  if not 0.0 <= prune_fraction < 1.0:
    raise ValueError(f"prune_fraction: expected a fraction in [0, 1); found {prune_fraction}.")
  g, n = importance_GxN.shape
  k = max(1, n - int(round(prune_fraction * n)))
  # Stable sort of -importance: the most important first, lower index first among equals.
  order_GxN = np.argsort(-np.asarray(importance_GxN, np.float64), axis=-1, kind="stable")
  return np.sort(order_GxN[:, :k], axis=-1)


def keep_mask(keep_GxK: np.ndarray, num_heads: int) -> np.ndarray:
  """[G, N] float32: 1 where a head is kept, 0 where it is pruned."""
  mask_GxN = np.zeros((keep_GxK.shape[0], num_heads), np.float32)
  np.put_along_axis(mask_GxN, keep_GxK, 1.0, axis=-1)
  return mask_GxN


def prune_heads(config: EncoderConfig, encoder_params, keep_GxK: np.ndarray):
  """(config, encoder params) with only the heads `keep_GxK` left in each weight group.

  q/k/v kernels [G, H, N, D] -> [G, H, K, D], their biases [G, N, D] -> [G, K, D], the
  output kernel [G, N, D, H] -> [G, K, D, H]; the output bias is unchanged. The config gets
  num_heads = K and attention_head_size = D.
  """
  g, n = head_grid(encoder_params)
  keep_GxK = np.asarray(keep_GxK)
  if keep_GxK.ndim != 2 or keep_GxK.shape[0] != g or not 0 < keep_GxK.shape[1] <= n:
    raise ValueError(f"keep: expected [G, K] head indices with G = {g} and 0 < K <= {n}; "
                     f"found shape {keep_GxK.shape}.")
  if keep_GxK.min() < 0 or keep_GxK.max() >= n or any(
      len(set(row)) != len(row) for row in keep_GxK.tolist()):
    raise ValueError(f"keep: expected distinct head indices in [0, {n}) per group; found "
                     f"{keep_GxK.tolist()}.")
  k = keep_GxK.shape[1]

  def take(x_Gx, head_axis):
    # Group g keeps its own heads: gather group by group, in numpy (export time, once).
    x_Gx = np.asarray(x_Gx)
    return np.stack([np.take(x_Gx[i], keep_GxK[i], axis=head_axis - 1) for i in range(g)])

  attention = dict(get_path(encoder_params, ATTENTION))
  for name in ("query", "key", "value"):
    attention[name] = {"kernel": take(attention[name]["kernel"], 2),
                       "bias": take(attention[name]["bias"], 1)}
  attention["out"] = {**attention["out"], "kernel": take(attention["out"]["kernel"], 1)}
  pruned = set_path(encoder_params, ATTENTION, attention)
  return config.replace(num_heads=k, attention_head_size=config.head_dim), pruned
