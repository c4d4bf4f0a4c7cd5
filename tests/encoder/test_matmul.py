"""`common.dense` multiplies as one 2-D matmul: same values, gradients and parameters as
flax's DenseGeneral contraction."""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bertlab.encoder import EncoderConfig
from bertlab.encoder.common import dense, matmul_dot_general

CFG = EncoderConfig(vocab_size=11, hidden_size=8, num_layers=1, num_heads=2,
                    intermediate_size=12, max_position_embeddings=16)

# The encoder's three forms: H -> (N, D) (query/key/value), (N, D) -> H (attention output),
# H -> F (FFN, heads).
FORMS = [
    ((2, 5, 8), (2, 4), ("embed", "heads", "kv"), -1),
    ((2, 5, 2, 4), 8, ("heads", "kv", "embed"), (-2, -1)),
    ((2, 5, 8), 12, ("embed", "mlp"), -1),
]


@pytest.mark.parametrize("x_shape,features,axes,axis", FORMS)
def test_dense_equals_flax_dense_general_in_value_gradient_and_parameters(
    x_shape, features, axes, axis):
  x = jax.random.normal(jax.random.key(0), x_shape)
  ours = dense(CFG, features, axes, "d", axis=axis)
  flax_own = nn.DenseGeneral(features=features, axis=axis, name="d",
                             kernel_init=nn.initializers.normal(0.02))
  v = ours.init(jax.random.key(1), x)
  v_flax = flax_own.init(jax.random.key(1), x)
  p = nn.unbox(v["params"])
  assert jax.tree_util.tree_map(jnp.shape, p) == jax.tree_util.tree_map(jnp.shape,
                                                                       v_flax["params"])
  p = jax.tree_util.tree_map(lambda a: a + jax.random.normal(jax.random.key(2), a.shape), p)
  f = lambda m: lambda p, x: m.apply({"params": p}, x)
  np.testing.assert_allclose(f(ours)(p, x), f(flax_own)(p, x), rtol=1e-6, atol=1e-6)
  loss = lambda m: lambda p, x: jnp.sum(jnp.sin(f(m)(p, x)))
  g, g_flax = (jax.grad(loss(m), argnums=(0, 1))(p, x) for m in (ours, flax_own))
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                         g, g_flax)


def test_every_matmul_of_the_forward_and_backward_is_two_dimensional():
  x = jax.random.normal(jax.random.key(0), (2, 5, 8))
  m = dense(CFG, (2, 4), ("embed", "heads", "kv"), "q")
  p = nn.unbox(m.init(jax.random.key(1), x)["params"])
  step = jax.grad(lambda p, x: jnp.sum(m.apply({"params": p}, x) ** 2), argnums=(0, 1))
  text = jax.jit(step).lower(p, x).as_text()
  dots = re.findall(r"stablehlo\.dot_general.*?:\s*\((tensor<[^>]*>), (tensor<[^>]*>)\)", text)
  assert len(dots) == 3, text  # forward, d/dx, d/dkernel
  for lhs, rhs in dots:
    assert lhs.count("x") == 2 and rhs.count("x") == 2, (lhs, rhs)  # tensor<AxBxf32>


def test_other_contractions_go_to_lax_dot_general_unchanged():
  a = jax.random.normal(jax.random.key(0), (3, 4, 5))
  b = jax.random.normal(jax.random.key(1), (3, 5, 6))
  dims = (((2,), (1,)), ((0,), (0,)))  # a batched product
  np.testing.assert_array_equal(matmul_dot_general(a, b, dims), jax.lax.dot_general(a, b, dims))
  dims = (((0,), (0,)), ((), ()))  # contracting a leading axis of the input
  c = jax.random.normal(jax.random.key(2), (3, 7))
  np.testing.assert_array_equal(matmul_dot_general(a, c, dims), jax.lax.dot_general(a, c, dims))
