"""Running any of our models on `quantize.quantize_params` output, under jit.

No module is rewritten: `flax.linen.intercept_methods` catches every `DenseGeneral` (and
`Embed`) call whose params hold an int8 kernel and computes it one of two ways:

  "dequantize"  W = q * s, cast to the compute dtype, then the float matmul. The weights rest
                in memory as int8; XLA fuses the dequantization into the matmul's operand.
  "int8"        an int8 x int8 -> int32 matmul (`lax.dot_general` with
                preferred_element_type=int32): activations are quantized per token on the
                fly, s_x = max |x| over the contracted axes / 127, and
                y = (x_q · q) * s_x * s + b. CPUs with VNNI and GPUs (cuBLAS / cuBLASLt
                IMMA) have int8 kernels; elsewhere XLA emulates the integer dot.

Modules whose params are float (LayerNorm, biases-only, unquantized kernels) run unchanged.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from bertlab.compress.quantize import QMAX, dequantize_tensor

MODES = ("dequantize", "int8")


def _quantized(module, name: str) -> bool:
  return (module.has_variable("params", name + "_scale")
          and module.get_variable("params", name).dtype == jnp.int8)


def _dense(module, x, mode: str):
  """nn.Dense or nn.DenseGeneral (our encoder's) on an int8 kernel."""
  q = module.get_variable("params", "kernel")
  s = module.get_variable("params", "kernel_scale")
  axis, batch_dims = getattr(module, "axis", -1), getattr(module, "batch_dims", ())
  axis = tuple(sorted(a % x.ndim for a in (axis if isinstance(axis, tuple) else (axis,))))
  c = len(axis)
  if axis != tuple(range(x.ndim - c, x.ndim)) or batch_dims:
    raise NotImplementedError(
        f"{module.name}: int8 inference contracts trailing input axes without batch_dims; "
        f"found axis={axis}, batch_dims={batch_dims}. Leave this kernel float.")
  dtype = module.dtype or x.dtype
  dims = ((axis, tuple(range(c))), ((), ()))
  if mode == "dequantize":
    y = jax.lax.dot_general(x.astype(dtype), dequantize_tensor(q, s, c, 0, dtype), dims)
  else:
    x32 = x.astype(jnp.float32)
    amax = jnp.max(jnp.abs(x32), axis=axis, keepdims=True)
    s_x = jnp.where(amax > 0, amax / QMAX, 1.0)
    x_q = jnp.clip(jnp.round(x32 / s_x), -QMAX, QMAX).astype(jnp.int8)
    acc = jax.lax.dot_general(x_q, q, dims, preferred_element_type=jnp.int32)
    s_x = s_x.reshape(x.shape[:-c] + (1,) * (q.ndim - c))
    y = (acc.astype(jnp.float32) * s_x * s).astype(dtype)
  if module.use_bias:
    y = y + module.get_variable("params", "bias").astype(dtype)
  return y


def _embed_rows(module: nn.Embed, ids):
  q = module.get_variable("params", "embedding")
  s = module.get_variable("params", "embedding_scale")
  rows = jnp.take(q, ids, axis=0).astype(jnp.float32) * jnp.take(s, ids, axis=0)[..., None]
  return rows.astype(module.dtype or jnp.float32)


def interceptor(mode: str = "dequantize"):
  """The method interceptor of `mode` (see the module docstring)."""
  if mode not in MODES:
    raise ValueError(f"int8 inference mode: expected one of {MODES}; found {mode!r}.")

  def intercept(next_fun, args, kwargs, context):
    m, method = context.module, context.method_name
    if (isinstance(m, (nn.Dense, nn.DenseGeneral)) and method == "__call__"
        and _quantized(m, "kernel")):
      return _dense(m, args[0], mode)
    if isinstance(m, nn.Embed) and method in ("__call__", "attend") and _quantized(
        m, "embedding"):
      if method == "__call__":
        return _embed_rows(m, args[0])
      table = dequantize_tensor(m.get_variable("params", "embedding").T,
                                m.get_variable("params", "embedding_scale"), 1).T
      return jnp.dot(args[0], table.astype(args[0].dtype).T)
    return next_fun(*args, **kwargs)

  return intercept


def quantized_apply(model: nn.Module, qparams, *args, mode: str = "dequantize", **kwargs):
  """`model.apply({"params": qparams}, *args, **kwargs)` with int8 kernels computed as `mode`."""
  with nn.intercept_methods(interceptor(mode)):
    return model.apply({"params": qparams}, *args, **kwargs)
