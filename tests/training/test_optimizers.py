"""Schedules, the weight-decay mask and gradient accumulation, against hand-computed values."""

import os
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from bertlab.training import optimizers

sys.path.insert(0, os.path.dirname(__file__))
from mesh_losses import batches  # noqa: E402


def _cfg(**kw):
  d = dict(name="adamw", learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-6, weight_decay=0.01,
           warmup_steps=10, schedule="linear", power=1.0, end_lr_ratio=0.0, clip_norm=1.0)
  d.update(kw)
  return ml_collections.ConfigDict(d)


def test_warmup_then_linear_decay():
  lr = optimizers.schedule(_cfg(), total_steps=110)
  np.testing.assert_allclose([lr(0), lr(5), lr(10), lr(60), lr(110)],
                             [0, 5e-4, 1e-3, 5e-4, 0], atol=1e-9)


def test_polynomial_decay_and_floor():
  lr = optimizers.schedule(_cfg(schedule="polynomial", power=2.0, end_lr_ratio=0.1), 110)
  # halfway through the decay: end + (peak - end) * (1 - 0.5)^2
  np.testing.assert_allclose(lr(60), 1e-4 + 9e-4 * 0.25, rtol=1e-6)
  np.testing.assert_allclose(lr(110), 1e-4, rtol=1e-6)


def test_weight_decay_skips_layernorm_and_biases():
  params = {"dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)},
            "norm": {"scale": jnp.ones(2), "bias": jnp.ones(2)},
            "word": {"embedding": jnp.ones((3, 2))}}
  mask = optimizers.decay_mask(params)
  assert mask == {"dense": {"kernel": True, "bias": False}, "norm": {"scale": False, "bias": False},
                  "word": {"embedding": True}}
  # With zero gradients only decayed leaves move: AdamW's update is -lr * wd * p there.
  tx, _ = optimizers.build(_cfg(warmup_steps=0, schedule="constant", weight_decay=0.1), 10)
  zero = jax.tree_util.tree_map(jnp.zeros_like, params)
  updates, _ = tx.update(zero, tx.init(params), params)
  np.testing.assert_allclose(updates["dense"]["kernel"], -1e-3 * 0.1 * 1.0, rtol=1e-6)
  np.testing.assert_array_equal(updates["norm"]["scale"], 0.0)
  np.testing.assert_array_equal(updates["dense"]["bias"], 0.0)


@pytest.mark.parametrize("name", ["adamw", "lamb"])
def test_both_optimizers_minimise_a_quadratic(name):
  tx, _ = optimizers.build(_cfg(name=name, warmup_steps=0, schedule="constant",
                                learning_rate=0.05, weight_decay=0.0), 100)
  p = {"w": jnp.array([3.0, -2.0])}
  state = tx.init(p)

  @jax.jit  # one compiled step: op by op, 100 steps took ~40 s on two cores
  def step(p, state):
    g = jax.grad(lambda q: jnp.sum(q["w"] ** 2))(p)
    u, state = tx.update(g, state, p)
    return optax.apply_updates(p, u), state

  for _ in range(100):
    p, state = step(p, state)
  assert float(jnp.abs(p["w"]).max()) < 0.5


@pytest.mark.parametrize("scale", [0.01, 1.0, 30.0, float("inf")])
def test_clip_matches_optax_and_clips_to_the_norm(scale):
  rng = np.random.default_rng(0)
  g = {"a": jnp.asarray(rng.normal(size=(7, 5)) * scale, jnp.float32),
       "b": {"c": jnp.asarray(rng.normal(size=(3,)) * scale, jnp.float32)}}
  ours, _ = optimizers.clip_by_global_norm(1.0).update(g, optax.EmptyState())
  ref, _ = optax.clip_by_global_norm(1.0).update(g, optax.EmptyState())
  for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(ref), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=0)
  norm = float(optax.global_norm(ours))
  if np.isfinite(scale):
    assert norm <= 1.0 + 1e-6
    if float(optax.global_norm(g)) < 1.0:
      jax.tree_util.tree_map(np.testing.assert_array_equal, ours, g)  # below: untouched


def test_unknown_optimizer_is_named():
  with pytest.raises(ValueError, match="optimizer.name"):
    optimizers.build(_cfg(name="sgd"), 10)


def test_gradient_accumulation_matches_one_big_batch():
  """Two micro-batches of 4 (equal prediction counts) == one batch of 8, without dropout."""
  from bertlab.encoder import EncoderConfig
  from bertlab.objectives.registry import build_model
  from bertlab.training import mesh as mesh_lib
  from bertlab.training import step as step_lib

  cfg = EncoderConfig(vocab_size=64, hidden_size=32, num_layers=2, num_heads=4,
                      intermediate_size=64, hidden_dropout=0.0, attention_dropout=0.0)
  model = build_model("bert", cfg)
  tx, lr = optimizers.build(_cfg(warmup_steps=0, schedule="constant"), 10)
  data = list(batches(3))
  mesh = mesh_lib.make_mesh((1, 1, 1))
  runs = []
  for accum in (1, 2):
    steps = step_lib.build(model, tx, lr, mesh, data[0], seed=0, grad_accum_steps=accum)
    state = steps.init()
    for b in data:
      state, m = steps.train(state, b)
    runs.append(jax.tree_util.tree_leaves(state.params))
  for a, b in zip(*runs):
    np.testing.assert_allclose(a, b, atol=2e-6)


@pytest.mark.parametrize("name", ["adamw", "lamb"])
def test_update_params_is_apply_if_finite_then_apply_updates(name):
  """The fused guard gives optax's apply_if_finite parameters, states and counts, step by step,
  through NaN and Inf gradients (skipped: nothing moves, the counts go up)."""
  tx, _ = optimizers.build(_cfg(name=name, warmup_steps=2, schedule="linear"), 20)
  ref = optax.apply_if_finite(tx.inner, max_consecutive_errors=1 << 30)
  rng = np.random.default_rng(0)
  p = {"w": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32), "bias": jnp.zeros(3)}
  ours_p, ours_s = p, tx.init(p)
  ref_p, ref_s = p, ref.init(p)
  fused = jax.jit(lambda g, s, p: optimizers.update_params(tx, g, s, p))
  for i in range(8):
    g = jax.tree_util.tree_map(lambda x: jnp.asarray(rng.normal(size=x.shape), jnp.float32), p)
    if i in (3, 4):  # two bad steps in a row, then a good one
      g["w"] = g["w"].at[1, 2].set(jnp.nan if i == 3 else jnp.inf)
    before = ours_p
    ours_p, ours_s = fused(g, ours_s, ours_p)
    u, ref_s = ref.update(g, ref_s, ref_p)
    ref_p = optax.apply_updates(ref_p, u)
    for a, b in zip(jax.tree_util.tree_leaves((ours_p, ours_s)),
                    jax.tree_util.tree_leaves((ref_p, ref_s)), strict=True):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    if i in (3, 4):
      np.testing.assert_array_equal(ours_p["w"], before["w"])
    assert [int(c) for c in optimizers.bad_step_counts(ours_s)] == \
        [int(c) for c in optimizers.bad_step_counts(ref_s)]
  assert [int(c) for c in optimizers.bad_step_counts(ours_s)] == [0, 2]


def test_update_params_takes_any_optax_transformation():
  tx = optax.sgd(0.5)
  p = {"w": jnp.ones(2)}
  new_p, _ = optimizers.update_params(tx, {"w": jnp.ones(2)}, tx.init(p), p)
  np.testing.assert_allclose(new_p["w"], 0.5)
