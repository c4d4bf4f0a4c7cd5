"""The encoder's own behaviour; numerical parity with the references is in tests/convert."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bertlab.encoder import Encoder, EncoderConfig, presets
from bertlab.encoder.stack import scans_layers

TINY = EncoderConfig(vocab_size=101, hidden_size=32, num_layers=4, num_heads=4,
                     intermediate_size=48, max_position_embeddings=40)


def _init(cfg, b=2, l=9):
  ids = jax.random.randint(jax.random.key(1), (b, l), 1, cfg.vocab_size)
  variables = Encoder(cfg).init(jax.random.key(0), ids)
  return ids, variables


def _n_params(variables):
  return sum(x.size for x in jax.tree_util.tree_leaves(nn.unbox(variables["params"])))


@pytest.mark.parametrize("kw", [
    {}, dict(embedding_size=16), dict(sharing="all"), dict(sharing="groups", num_hidden_groups=2),
    dict(use_pooler=False), dict(pre_layer_norm=True),
])
def test_param_count_matches_architecture_formula(kw):
  cfg = TINY.replace(**kw)
  _, variables = _init(cfg)
  extra = 2 * cfg.hidden_size if cfg.pre_layer_norm else 0  # the final LayerNorm
  assert _n_params(variables) == presets.count_params(cfg) + extra


def test_sharing_stacks_one_set_per_group():
  for sharing, groups, g in [("none", 1, 4), ("all", 1, 1), ("groups", 2, 2)]:
    cfg = TINY.replace(sharing=sharing, num_hidden_groups=groups)
    _, v = _init(cfg)
    kernel = nn.unbox(v["params"])["stack"]["layers"]["attention"]["query"]["kernel"]
    assert kernel.shape == (g, 32, 4, 8)


def test_all_sharing_equals_one_layer_applied_repeatedly():
  """ALBERT 'all': L applications of one weight set == an L-group stack holding L copies."""
  shared = TINY.replace(sharing="all")
  ids, v = _init(shared)
  p = nn.unbox(v["params"])
  copies = jax.tree_util.tree_map(lambda x: jnp.repeat(x, 4, axis=0), p["stack"])
  h_shared, _ = Encoder(shared).apply({"params": p}, ids)
  h_copies, _ = Encoder(TINY).apply({"params": {**p, "stack": copies}}, ids)
  np.testing.assert_allclose(h_shared, h_copies, atol=1e-6)


def test_padding_does_not_change_real_positions():
  ids, v = _init(TINY, b=1, l=6)
  padded = jnp.concatenate([ids, jnp.zeros((1, 3), ids.dtype)], axis=1)
  mask = jnp.array([[1] * 6 + [0] * 3])
  h, pooled = Encoder(TINY).apply(v, ids)
  hp, pooled_p = Encoder(TINY).apply(v, padded, mask)
  np.testing.assert_allclose(h, hp[:, :6], atol=1e-5)
  np.testing.assert_allclose(pooled, pooled_p, atol=1e-5)


def test_remat_gives_same_outputs_and_grads():
  ids, v = _init(TINY)
  loss = lambda cfg: lambda p: Encoder(cfg).apply({"params": p}, ids)[0].sum()
  p = nn.unbox(v["params"])
  g1 = jax.jit(jax.grad(loss(TINY)))(p)  # jit: op by op, these tests took ~25 s each
  g2 = jax.jit(jax.grad(loss(TINY.replace(remat=True))))(p)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), g1, g2)


@pytest.mark.parametrize("sharing", [dict(), dict(sharing="all"),
                                     dict(sharing="groups", num_hidden_groups=2)])
def test_unrolled_layers_compute_the_scanned_function(sharing):
  """scan_layers=False keeps parameters and outputs of scan_layers=True, even under dropout:
  the per-layer RNG streams are the scan's."""
  cfg = TINY.replace(**sharing)
  ids, v = _init(cfg.replace(scan_layers=True))
  _, v_unrolled = _init(cfg.replace(scan_layers=False))
  chex.assert_trees_all_equal_shapes(v, v_unrolled)
  run = lambda c: jax.jit(lambda v: Encoder(c).apply(
      v, ids, deterministic=False, rngs={"dropout": jax.random.key(1)})[0])(v)
  np.testing.assert_allclose(run(cfg.replace(scan_layers=False)),
                             run(cfg.replace(scan_layers=True)), atol=2e-6)


def test_layer_loop_is_unrolled_on_cpu_unless_the_config_says():
  assert TINY.scan_layers is None
  assert jax.default_backend() == "cpu"
  assert scans_layers(TINY) is False  # None: by backend
  assert scans_layers(TINY, traced=False) is True  # eager calls keep the (cached) scan
  assert scans_layers(TINY.replace(scan_layers=True)) is True
  assert scans_layers(TINY.replace(scan_layers=False), traced=False) is False
  with pytest.raises(ValueError, match="scan_layers"):
    TINY.replace(scan_layers="yes")
  # The unrolled default lowers without a while loop; scan_layers=True keeps one.
  ids, v = _init(TINY)
  hlo = lambda c: jax.jit(lambda p: Encoder(c).apply(p, ids)[0]).lower(v).as_text()
  assert "while" not in hlo(TINY) and "while" in hlo(TINY.replace(scan_layers=True))


def test_cudnn_attention_needs_half_precision():
  with pytest.raises(ValueError, match="bfloat16"):
    TINY.replace(attention_impl="cudnn")
  with pytest.raises(ValueError, match="attention_impl"):
    TINY.replace(attention_impl="flash")
  TINY.replace(attention_impl="cudnn", dtype="bfloat16")  # valid; runs on an NVIDIA GPU


def test_dropout_is_keyed_and_differs_per_layer_call():
  ids, v = _init(TINY)
  run = lambda k: Encoder(TINY).apply(v, ids, deterministic=False, rngs={"dropout": k})[0]
  a, b, c = run(jax.random.key(3)), run(jax.random.key(3)), run(jax.random.key(4))
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)
  det = Encoder(TINY).apply(v, ids)[0]
  assert not np.allclose(a, det)


def test_bfloat16_compute_keeps_float32_params():
  cfg = TINY.replace(dtype="bfloat16")
  ids, v = _init(cfg)
  assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(nn.unbox(v["params"])))
  h, pooled = Encoder(cfg).apply(v, ids)
  assert h.dtype == jnp.bfloat16
  h32, _ = Encoder(TINY).apply(v, ids)
  np.testing.assert_allclose(np.asarray(h, np.float32), h32, atol=0.1)


def test_every_param_has_logical_axes():
  cfg = TINY.replace(embedding_size=16)
  _, v = _init(cfg)
  specs = nn.get_partition_spec(v)["params"]
  leaves = jax.tree_util.tree_leaves(specs, is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))
  shapes = jax.tree_util.tree_leaves(nn.unbox(v["params"]))
  assert len(leaves) == len(shapes)
  for spec, x in zip(leaves, shapes):
    assert isinstance(spec, jax.sharding.PartitionSpec) and len(spec) == x.ndim
  assert specs["stack"]["layers"]["mlp"]["wi"]["kernel"] == jax.sharding.PartitionSpec(
      "layers", "embed", "mlp")


def test_too_long_input_is_a_clear_error():
  _, v = _init(TINY)
  with pytest.raises(ValueError, match="exceeds the 40 positions"):
    Encoder(TINY).apply(v, jnp.ones((1, 41), jnp.int32))


def test_roberta_positions_start_after_padding_index():
  cfg = TINY.replace(position_offset=2, pad_token_id=1)
  ids, v = _init(cfg)
  h, _ = Encoder(cfg).apply(v, ids)
  explicit = 2 + jnp.arange(ids.shape[1])[None]
  h2, _ = Encoder(cfg).apply(v, ids, position_ids=explicit)
  np.testing.assert_array_equal(h, h2)
