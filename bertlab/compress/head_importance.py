"""Attention-head importance from the gradient of a head mask (Michel et al. 2019, §4.1).

Michel et al. multiply each head's output by a gate ξ (eq. 2) and score a head by the
gradient of the loss with respect to its gate at ξ = 1. Here the gate is applied to the
attention's output projection, which is linear in each head's output:

  out = Σ_n ξ_n · (o_n · W_out[n]) + b   =   Σ_n o_n · (ξ_n W_out[n]) + b,

so scaling the kernel slice W_out[g, n] by ξ[g, n] is exactly the head mask, needs no change to
the encoder, and makes ∂L/∂ξ[g, n] = <∂L/∂W'_out[g, n], W_out[g, n]>.

Masks are per weight group g (the stack's leading axis G): one per layer for BERT, one for
all layers under ALBERT's sharing, where a head of the shared weights is one head in every
layer.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bertlab.compress.tree_paths import get_path, set_path

ATTENTION = ("stack", "layers", "attention")


def head_grid(encoder_params) -> tuple[int, int]:
  """(G, N): weight groups and heads of the encoder params."""
  kernel_GxNxDxH = get_path(encoder_params, ATTENTION + ("out", "kernel"))
  return tuple(kernel_GxNxDxH.shape[:2])


def mask_heads(encoder_params, mask_GxN):
  """The encoder params with head n of weight group g gated by mask[g, n] (0: removed).

  mask_GxN: [G, N], floats (a gate, differentiable) or 0/1.
  """
  kernel_GxNxDxH = get_path(encoder_params, ATTENTION + ("out", "kernel"))
  g, n = kernel_GxNxDxH.shape[:2]
  if tuple(mask_GxN.shape) != (g, n):
    raise ValueError(f"head mask: expected shape (G, N) = {(g, n)} (weight groups, heads); "
                     f"found {tuple(mask_GxN.shape)}.")
  gated = kernel_GxNxDxH * mask_GxN[:, :, None, None].astype(kernel_GxNxDxH.dtype)
  return set_path(encoder_params, ATTENTION + ("out", "kernel"), gated)


def head_importance(loss_fn, params, batches, encoder_key: str = "encoder") -> np.ndarray:
  """I[g, n] = Σ_batches |∂L_batch / ∂ξ[g, n]| at ξ = 1: [G, N] float64, >= 0.

  loss_fn(params, batch) -> scalar: the model's (mean) loss on a batch, deterministic.
  params: the model's params, with the encoder's under `encoder_key`.
  The absolute value is taken per batch and summed over batches, as Michel et al.'s code
  (which accumulates |grad| batch by batch); with one batch holding the data this is
  |Σ over the data of ∂L/∂ξ|. Use training data: the dev set stays unseen.
  """
  if encoder_key not in params:
    raise KeyError(f"head_importance: expected the encoder params under {encoder_key!r}; "
                   f"found keys {sorted(params)}.")
  g, n = head_grid(params[encoder_key])

  @jax.jit
  def gate_grad(mask_GxN, batch):
    masked = lambda m: loss_fn({**params, encoder_key: mask_heads(params[encoder_key], m)},
                               batch)
    return jax.grad(masked)(mask_GxN)

  total_GxN = np.zeros((g, n), np.float64)
  ones_GxN = jnp.ones((g, n), jnp.float32)
  count = 0
  for batch in batches:
    total_GxN += np.abs(np.asarray(gate_grad(ones_GxN, batch), np.float64))
    count += 1
  if not count:
    raise ValueError("head_importance: expected at least one batch; found none.")
  return total_GxN


def normalize_by_layer(importance_GxN: np.ndarray) -> np.ndarray:
  """Each group's scores divided by their L2 norm (Michel et al.: makes layers comparable
  when heads are ranked globally, across layers)."""
  norm_Gx1 = np.linalg.norm(importance_GxN, axis=-1, keepdims=True)
  return importance_GxN / np.maximum(norm_Gx1, 1e-20)
