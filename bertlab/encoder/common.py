"""Small building blocks shared by every encoder part: dtypes, activations, initialisers."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bertlab.encoder.config import EncoderConfig


def compute_dtype(cfg: EncoderConfig):
  return jnp.dtype(cfg.dtype)


@jax.custom_jvp
def gelu(x):
  """The exact (erf) GELU, x * Phi(x), with one saved tensor for its backward pass.

  Differentiating jax.nn.gelu keeps erfc and exp intermediates of every [B, L, F] FFN
  activation alive until the backward pass; the derivative Phi(x) + x * phi(x) computed
  in the forward pass is a single tensor.
  """
  return jax.nn.gelu(x, approximate=False)


@gelu.defjvp
def _gelu_jvp(primals, tangents):
  (x,), (t,) = primals, tangents
  cdf = 0.5 * jax.lax.erfc(-x * np.sqrt(0.5).astype(x.dtype))  # erfc: no cancellation for x << 0
  pdf = jnp.exp(-0.5 * x * x) * (1 / np.sqrt(2 * np.pi)).astype(x.dtype)
  return gelu(x), t * (cdf + x * pdf)


def activation(name: str):
  """The activation named as in the reference configs ("gelu" is the exact erf GELU)."""
  return {
      "gelu": gelu,
      "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
      "relu": jax.nn.relu,
      "silu": jax.nn.silu,
      "tanh": jnp.tanh,
  }[name]


def kernel_init(cfg: EncoderConfig, axes):
  """Truncated-free N(0, initializer_range) as in the BERT reference, with logical axes."""
  return nn.with_logical_partitioning(nn.initializers.normal(cfg.initializer_range), axes)


def bias_init(axes):
  return nn.with_logical_partitioning(nn.initializers.zeros_init(), axes)


def layer_norm(cfg: EncoderConfig, name: str, axis_name: str = "embed") -> nn.LayerNorm:
  return nn.LayerNorm(
      epsilon=cfg.layer_norm_eps,
      dtype=compute_dtype(cfg),
      param_dtype=jnp.float32,
      scale_init=nn.with_logical_partitioning(nn.initializers.ones_init(), (axis_name,)),
      bias_init=bias_init((axis_name,)),
      name=name,
  )


def dense(cfg: EncoderConfig, features, axes, name: str, axis=-1) -> nn.DenseGeneral:
  """A DenseGeneral whose kernel/bias carry logical axis names (`axes` = kernel axes)."""
  n_out = 1 if isinstance(features, int) else len(features)
  return nn.DenseGeneral(
      features=features,
      axis=axis,
      dtype=compute_dtype(cfg),
      param_dtype=jnp.float32,
      kernel_init=kernel_init(cfg, axes),
      bias_init=bias_init(tuple(axes[-n_out:])),
      name=name,
  )
