"""Dropout whose masks are exactly `flax.linen.Dropout`'s, drawn faster on CPU.

`jax.random.bernoulli` hashes counters with Threefry-2x32; on CPU JAX lowers that hash as a
rolled 5-trip loop (to keep compile times short), which XLA cannot fuse: drawing the masks
of one BERT-base train step (batch 8, seq 128) took 400 ms rolled against 78 ms for the same
hash written out as 20 straight rounds of elementwise ops. `random_bits` is that straight form:
Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
SC 2011), over the same counters JAX uses, so the bits, the masks and every training run are
unchanged (tests/encoder/test_dropout.py checks the bits and the outputs against JAX and flax).
Keys that are not raw Threefry keys, or JAX's older non-partitionable counter layout, go
through `jax.random.bernoulli` itself.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# Threefry-2x32 rotation constants (Random123, R_32x2), in two alternating groups of four rounds.
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_KEY_PARITY = np.uint32(0x1BD11BDA)


def _rotl(x, r: int):
  return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(k0, k1, x0, x1):
  """Threefry-2x32, 20 rounds, unrolled: keys k0, k1 (uint32 scalars), counters x0, x1."""
  ks = (k0, k1, k0 ^ k1 ^ _KEY_PARITY)
  x0, x1 = x0 + ks[0], x1 + ks[1]
  for block in range(5):  # 5 x 4 rounds, a key injection after each block of four
    for r in _ROTATIONS[block % 2]:
      x0 = x0 + x1
      x1 = _rotl(x1, r) ^ x0
    x0 = x0 + ks[(block + 1) % 3]
    x1 = x1 + ks[(block + 2) % 3] + np.uint32(block + 1)
  return x0, x1


def _is_threefry(key) -> bool:
  """One Threefry key: typed (shape ()) or raw (uint32[2], read with the default impl)."""
  typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
  return key.shape == (() if typed else (2,)) and str(jax.random.key_impl(key)) == "threefry2x32"


def random_bits(key, shape):
  """uint32 bits equal to `jax.random.bits(key, shape)` for a Threefry key (partitionable
  counters: the 64-bit index of each element, as a high and a low word)."""
  size = int(np.prod(shape))
  if size >= 2**32:  # a high counter word is needed: JAX's own (same bits) computes it
    return jax.random.bits(key, shape, jnp.uint32)
  data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
  lo = jax.lax.iota(jnp.uint32, size).reshape(shape)
  b0, b1 = threefry2x32(data[0], data[1], jnp.zeros_like(lo), lo)
  return b0 ^ b1


def keep_mask(key, keep_prob: float, shape):
  """`jax.random.bernoulli(key, keep_prob, shape)`, bit for bit.

  bernoulli draws u = (bits >> 9) / 2**23 in float32 and keeps u < p: the same as the
  23-bit integer (bits >> 9) being below ceil(p * 2**23), p rounded to float32 first.
  """
  if not (_is_threefry(key) and jax.config.jax_threefry_partitionable) or np.prod(shape) >= 2**32:
    # Pod-sized global masks (RoBERTa-large: 8k x 512 x 1024 > 2**32) take JAX's path, whose
    # 64-bit counters give the same bits this one gives below 2**32.
    return jax.random.bernoulli(key, keep_prob, shape)
  threshold = int(np.ceil(np.float64(np.float32(keep_prob)) * 2.0**23))
  return (random_bits(key, shape) >> np.uint32(9)) < np.uint32(threshold)


class Dropout(nn.Module):
  """`flax.linen.Dropout` (same name, so the same auto-named RNG streams and masks)."""

  rate: float
  deterministic: bool | None = None
  rng_collection: str = "dropout"

  @nn.compact
  def __call__(self, inputs, deterministic: bool | None = None):
    deterministic = nn.merge_param("deterministic", self.deterministic, deterministic)
    if self.rate == 0.0 or deterministic:
      return inputs
    if self.rate == 1.0:  # as flax: no 0 / 0 in the gradient
      return jnp.zeros_like(inputs)
    keep_prob = 1.0 - self.rate
    mask = keep_mask(self.make_rng(self.rng_collection), keep_prob, inputs.shape)
    return jax.lax.select(mask, inputs / keep_prob, jnp.zeros_like(inputs))
