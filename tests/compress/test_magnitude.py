"""Gradual magnitude pruning: Zhu & Gupta's schedule by hand, masks in the optimizer state."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bertlab.compress.magnitude import cubic_sparsity, magnitude_pruning, sparsity_of


@pytest.mark.parametrize("step, expected", [
    (0, 0.0),                    # t0: s_i = 0
    (5, 0.0),                    # between pruning steps the last value holds
    (10, 0.8 * (1 - 0.9 ** 3)),  # 0.2168
    (50, 0.8 * (1 - 0.5 ** 3)),  # 0.7
    (59, 0.7),
    (90, 0.8 * (1 - 0.1 ** 3)),  # 0.7992
    (100, 0.8), (500, 0.8),      # s_f from t0 + nΔt on
])
def test_cubic_schedule_values(step, expected):
  got = float(cubic_sparsity(step, final_sparsity=0.8, begin_step=0, end_step=100, frequency=10))
  assert got == pytest.approx(expected, abs=1e-6)


def test_schedule_is_zero_before_begin_and_starts_from_initial_sparsity():
  s = lambda t: float(cubic_sparsity(t, 0.5, 20, 60, 20, initial_sparsity=0.1))
  assert (s(19), s(20), s(40), s(60)) == pytest.approx((0.0, 0.1, 0.5 - 0.4 / 8, 0.5))


def _params():
  k1, k2 = jax.random.split(jax.random.key(0))
  return {"stack": {"layers": {"mlp": {"kernel": jax.random.normal(k1, (2, 10, 20)),
                                       "bias": jnp.ones((2, 20))}}},
          "head": {"kernel": jax.random.normal(k2, (20, 3))}}


def test_masks_prune_the_smallest_weights_per_layer_and_keep_them_at_zero():
  params = _params()
  tx = optax.chain(optax.sgd(0.05), magnitude_pruning(0.5, begin_step=0, end_step=4,
                                                       frequency=2))
  plain = optax.sgd(0.05)
  state, plain_state = tx.init(params), plain.init(params)
  update, plain_update = jax.jit(tx.update), jax.jit(plain.update)
  for step in range(1, 7):
    grads = jax.tree_util.tree_map(lambda x: jnp.cos(x * step), params)
    updates, state = update(grads, state, params)
    ref_updates, plain_state = plain_update(grads, plain_state, params)
    new = optax.apply_updates(params, updates)
    masks = state[1].masks
    kernel = new["stack"]["layers"]["mlp"]["kernel"]
    mask = masks["stack"]["layers"]["mlp"]["kernel"]
    # Pruned weights are exactly 0; kept ones moved exactly as without pruning.
    assert np.all(np.asarray(kernel)[~np.asarray(mask)] == 0.0)
    ref = optax.apply_updates(params, ref_updates)["stack"]["layers"]["mlp"]["kernel"]
    np.testing.assert_array_equal(np.asarray(kernel)[np.asarray(mask)],
                                  np.asarray(ref)[np.asarray(mask)])
    # Pruned: floor(s * 200) per layer at the pruning steps 2 and 4 (s = 0.4375, then 0.5).
    want = {1: 0, 2: 87, 3: 87}.get(step, 100)
    assert [int((~np.asarray(mask[g])).sum()) for g in range(2)] == [want, want], step
    params = new
  # Biases and tensors outside the layer stack stay dense.
  assert masks["stack"]["layers"]["mlp"]["bias"].shape == ()
  assert masks["head"]["kernel"].shape == () and np.all(params["head"]["kernel"] != 0)
  assert sparsity_of(params) == 0.5


def test_masks_carry_the_weights_logical_axes():
  boxed = {"stack": {"layers": {"kernel": nn.Partitioned(jnp.ones((2, 4, 4)),
                                                         ("layers", "embed", "mlp"))}}}
  masks = magnitude_pruning(0.5, 0, 10).init(boxed).masks
  box = masks["stack"]["layers"]["kernel"]
  assert isinstance(box, nn.Partitioned) and box.names == ("layers", "embed", "mlp")
  assert box.value.dtype == jnp.bool_
