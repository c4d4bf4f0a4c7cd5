"""Post-training int8 weight quantization: per output channel, symmetric, round to nearest.

A Dense kernel W [..in.., ..out..] becomes q = round(W / s) in [-127, 127] (int8) with one
float32 scale per output channel, s = max |W| over the input axes / 127, stored beside it as
`kernel_scale` [..out..]. Kernels of the scanned stack carry a leading layer axis G, which
keeps its own scales (one per layer and channel). Embedding tables, optionally, get one scale
per row (`embedding_scale` [V]): a looked-up row is dequantized alone.

Error bound (why the tests' tolerance holds): each weight moves by at most s/2, so an output
y_j = Σ_i x_i W_ij moves by at most (s_j / 2) Σ_i |x_i|. For weights spread like N(0, σ²),
max |W| over a fan-in of a few hundred is ≈ 3σ, the rounding error is ≈ uniform with
variance s²/12, and the relative error of y is ≈ s / (√12 σ) = 3 / (127 √12) ≈ 0.7 %.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

QMAX = 127  # symmetric: -128 is never used, so that negation cannot overflow


def contracting_dims(path: tuple[str, ...]) -> int:
  """How many leading (input) axes a Dense kernel at `path` contracts, after any layer axis.

  The attention output projection contracts heads and head width [N, D, H]; every other
  Dense kernel of the encoder and heads contracts one axis.
  """
  return 2 if path[-3:-1] == ("attention", "out") else 1


def quantize_tensor(w, contract: int, batch_dims: int = 0):
  """(int8 q, float32 scale): w ≈ q * scale, scale over the output axes (and batch axes).

  w: [*batch, *in, *out] with `batch_dims` leading batch axes and `contract` input axes.
  """
  w = jnp.asarray(w, jnp.float32)
  axes = tuple(range(batch_dims, batch_dims + contract))
  amax = jnp.max(jnp.abs(w), axis=axes)
  scale = jnp.where(amax > 0, amax / QMAX, 1.0).astype(jnp.float32)  # an all-zero channel
  expand = jnp.expand_dims(scale, axes)
  q = jnp.clip(jnp.round(w / expand), -QMAX, QMAX).astype(jnp.int8)
  return q, scale


def dequantize_tensor(q, scale, contract: int, batch_dims: int = 0, dtype=jnp.float32):
  axes = tuple(range(batch_dims, batch_dims + contract))
  return (q.astype(jnp.float32) * jnp.expand_dims(scale, axes)).astype(dtype)


def _walk(tree, path=()):
  for k, v in tree.items():
    if isinstance(v, dict):
      yield from _walk(v, path + (k,))
    else:
      yield path + (k,), v


def quantize_params(params, embeddings: bool = False):
  """Params with every Dense `kernel` (and, with `embeddings`, every table) as int8 + scale.

  Other leaves (biases, LayerNorm, the pooler's bias, ...) stay float32. One jit'ed
  computation for the whole tree (op by op, each small tensor would compile its own).
  """
  return _quantize_jit(params, embeddings)


def dequantize_params(qparams):
  """The float32 params a quantized tree stands for (the inverse of `quantize_params` up to
  rounding)."""
  return _dequantize_jit(qparams)


def _quantize_params(params, embeddings: bool):
  out = {}
  for path, w in _walk(params):
    node = out
    for k in path[:-1]:
      node = node.setdefault(k, {})
    name, stacked = path[-1], int("layers" in path)
    if name == "kernel":
      node["kernel"], node["kernel_scale"] = quantize_tensor(w, contracting_dims(path), stacked)
    elif name == "embedding" and embeddings:
      # One scale per row: the table's "input" axis is its width E.
      q, s = quantize_tensor(jnp.asarray(w).T, 1)
      node["embedding"], node["embedding_scale"] = q.T, s
    else:
      node[name] = w
  return out


def _dequantize_params(qparams):
  out = {}
  for path, v in _walk(qparams):
    node = out
    for k in path[:-1]:
      node = node.setdefault(k, {})
    name = path[-1]
    if name.endswith("_scale"):
      continue
    parent = qparams
    for k in path[:-1]:
      parent = parent[k]
    if name == "kernel" and "kernel_scale" in parent:
      node[name] = dequantize_tensor(v, parent["kernel_scale"], contracting_dims(path),
                                     int("layers" in path))
    elif name == "embedding" and "embedding_scale" in parent:
      node[name] = dequantize_tensor(v.T, parent["embedding_scale"], 1).T
    else:
      node[name] = v
  return out


_quantize_jit = jax.jit(_quantize_params, static_argnums=1)
_dequantize_jit = jax.jit(_dequantize_params)


def nbytes(tree) -> int:
  """Bytes the leaves of `tree` take in memory."""
  return sum(int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize
             for x in jax.tree_util.tree_leaves(tree))


def count(tree) -> int:
  """Number of stored values (int8 weights count one each; scales count too)."""
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))
