"""Our dropout draws exactly flax's masks; our GELU is the exact (erf) GELU, value and gradient."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bertlab.encoder import dropout
from bertlab.encoder.common import gelu

KEYS = [jax.random.PRNGKey(0), jax.random.PRNGKey(2**31 + 5), jax.random.key(7),
        jax.random.fold_in(jax.random.PRNGKey(5), 3)]
SHAPES = [(1,), (3,), (8, 4, 16, 16), (5, 7, 33)]


def test_threefry_matches_the_published_known_answers():
  # Random123's kat_vectors for threefry2x32_20: (counter, key) -> output.
  cases = [((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
           ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
           ((0x243F6A88, 0x85A308D3), (0x13198A2E, 0x03707344), (0xC4923A9C, 0x483DF7A0))]
  for (x0, x1), (k0, k1), want in cases:
    u = lambda v: jnp.asarray(v, jnp.uint32)
    got = dropout.threefry2x32(u(k0), u(k1), u(x0), u(x1))
    assert tuple(int(g) for g in got) == want


@pytest.mark.parametrize("shape", SHAPES)
def test_random_bits_equal_jax_random_bits(shape):
  for key in KEYS:
    np.testing.assert_array_equal(dropout.random_bits(key, shape), jax.random.bits(key, shape))


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.37, 0.1])
def test_keep_mask_equals_bernoulli(keep):
  for key in KEYS:
    for shape in SHAPES:
      np.testing.assert_array_equal(dropout.keep_mask(key, keep, shape),
                                    jax.random.bernoulli(key, keep, shape))


def test_other_key_kinds_fall_back_to_bernoulli():
  key = jax.random.key(3, impl="rbg")
  np.testing.assert_array_equal(dropout.keep_mask(key, 0.9, (4, 8)),
                                jax.random.bernoulli(key, 0.9, (4, 8)))


def test_module_gives_flax_dropout_outputs_and_gradients():
  class Two(nn.Module):
    cls: type

    @nn.compact
    def __call__(self, x, deterministic):
      y = self.cls(0.1)(x, deterministic=deterministic)
      return self.cls(0.3, deterministic=deterministic)(y * 2.0)

  x = jax.random.normal(jax.random.key(1), (4, 9, 16))
  rngs = {"dropout": jax.random.PRNGKey(3)}
  run = lambda cls, x, det=False: Two(cls).apply({}, x, det, rngs=rngs)
  np.testing.assert_array_equal(run(dropout.Dropout, x), run(nn.Dropout, x))
  np.testing.assert_array_equal(run(dropout.Dropout, x, True), x * 2.0)
  grad = lambda cls: jax.grad(lambda x: (run(cls, x) ** 2).sum())(x)
  np.testing.assert_array_equal(grad(dropout.Dropout), grad(nn.Dropout))
  dropped = run(dropout.Dropout, jnp.ones((64, 64)))
  assert 0.33 < float((dropped == 0).mean()) < 0.41  # 1 - 0.9 * 0.7 = 0.37 of entries are 0


def test_gelu_is_the_exact_gelu_and_so_is_its_gradient():
  x = jnp.linspace(-9.0, 9.0, 20001)
  exact = np.array([0.5 * v * math.erfc(-v / math.sqrt(2)) for v in np.asarray(x, np.float64)])
  d_exact = np.array([0.5 * math.erfc(-v / math.sqrt(2)) + v * math.exp(-v * v / 2)
                      / math.sqrt(2 * math.pi) for v in np.asarray(x, np.float64)])
  # float32 rounding of the erf form (what PyTorch computes): within 1.5e-6 absolute everywhere.
  np.testing.assert_allclose(gelu(x), exact, rtol=1e-6, atol=1.5e-6)
  np.testing.assert_allclose(gelu(x), jax.nn.gelu(x, approximate=False), rtol=1e-6, atol=1.5e-6)
  ours = jax.grad(lambda x: gelu(x).sum())(x)
  np.testing.assert_allclose(ours, d_exact, rtol=1e-6, atol=2e-6)
  ref = jax.grad(lambda x: jax.nn.gelu(x, approximate=False).sum())(x)
  np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=2e-6)
  torch = pytest.importorskip("torch")
  np.testing.assert_allclose(gelu(x), torch.nn.functional.gelu(torch.tensor(np.asarray(x))).numpy(),
                             rtol=1e-6, atol=1.5e-6)
  # Hand values: GELU'(0) = 1/2; GELU'(1) = Phi(1) + phi(1) = 0.8413447 + 0.2419707.
  np.testing.assert_allclose(jax.grad(gelu)(0.0), 0.5, rtol=1e-7)
  np.testing.assert_allclose(jax.grad(gelu)(1.0), 1.0833155, rtol=1e-6)
  assert jax.grad(lambda x: gelu(x).astype(jnp.float32).sum())(
      x.astype(jnp.bfloat16)).dtype == jnp.bfloat16


def test_masks_beyond_2_to_the_32_elements_trace():
  # A pod's global mask (RoBERTa-large, 8k x 512 x 1024 = 2**32) once raised here.
  from bertlab.encoder.dropout import keep_mask, random_bits
  key = jax.random.key(0)
  shape = (1 << 16, (1 << 16) + 1)
  assert jax.eval_shape(lambda k: keep_mask(k, 0.9, shape), key).shape == shape
  bits = jax.eval_shape(lambda k: random_bits(jax.random.key_data(k), shape), key)
  assert bits.shape == shape and bits.dtype == jnp.uint32
