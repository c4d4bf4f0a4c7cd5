"""Pretraining models: assembly, gradient flow of the ELECTRA coupling, SBO by hand."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bertlab.encoder import EncoderConfig
from bertlab.objectives import pretraining as pt
from bertlab.objectives.electra import ElectraForPretraining

CFG = EncoderConfig(vocab_size=50, hidden_size=24, num_layers=2, num_heads=2,
                    intermediate_size=40, embedding_size=16, max_position_embeddings=16)
GEN = CFG.replace(hidden_size=12, intermediate_size=20, use_pooler=False)


def _batch():
  b = pt.zeros_like_batch(2, 8, 3)
  b["input_ids"] = jnp.array([[2, 4, 11, 4, 13, 3, 0, 0], [2, 15, 4, 17, 18, 19, 4, 3]])
  b["attention_mask"] = (b["input_ids"] > 0).astype(jnp.int32)
  b["mlm_positions"] = jnp.array([[1, 3, 0], [2, 6, 0]])
  b["mlm_ids"] = jnp.array([[10, 12, 0], [16, 20, 0]])
  b["mlm_weights"] = jnp.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
  b["nsp_label"] = jnp.array([0, 1])
  b["sop_label"] = jnp.array([1, 0])
  b["sbo_left"] = jnp.array([[0, 2, 0], [1, 5, 0]])
  b["sbo_right"] = jnp.array([[2, 4, 0], [3, 7, 0]])
  b["sbo_weights"] = b["mlm_weights"]
  return b


@pytest.mark.parametrize("cls,keys", [
    (pt.BertForPretraining, {"mlm_loss", "nsp_loss", "nsp_accuracy"}),
    (pt.AlbertForPretraining, {"mlm_loss", "sop_loss"}),
    (pt.RobertaForPretraining, {"mlm_loss", "mlm_accuracy"}),
    (pt.SpanBertForPretraining, {"mlm_loss", "sbo_loss", "sbo_accuracy"}),
])
def test_models_sum_their_objectives(cls, keys):
  model, b = cls(CFG), _batch()
  v = model.init(jax.random.key(0), b)
  loss, m = model.apply(v, b)
  assert keys <= set(m)
  parts = sum(m[k] for k in ("mlm_loss", "nsp_loss", "sop_loss", "sbo_loss") if k in m)
  np.testing.assert_allclose(loss, parts, rtol=1e-6)
  # A uniform-ish initial model is near log(V) on MLM.
  assert abs(float(m["mlm_loss"]) - np.log(50)) < 1.0


def test_missing_label_is_a_clear_error():
  b = _batch()
  del b["nsp_label"]
  model = pt.BertForPretraining(CFG)
  with pytest.raises(KeyError, match="nsp_label"):
    model.init(jax.random.key(0), b)


def _electra():
  model = ElectraForPretraining(CFG.replace(use_pooler=False), GEN)
  b = _batch()
  v = jax.jit(model.init)({"params": jax.random.key(0), "sampling": jax.random.key(1)}, b)
  return model, b, nn.unbox(v["params"])


def test_electra_shares_one_embedding_module():
  _, _, p = _electra()
  assert set(p) == {"embeddings", "generator", "discriminator", "generator_head",
                    "discriminator_head"}
  assert "embeddings" not in p["generator"] and "embeddings" not in p["discriminator"]
  # Each network has its own E -> H projection (E=16; H=12 and 24).
  assert p["generator"]["projection"]["kernel"].shape == (16, 12)
  assert p["discriminator"]["projection"]["kernel"].shape == (16, 24)


def _norm(tree):
  return float(sum(jnp.abs(x).sum() for x in jax.tree_util.tree_leaves(tree)))


def test_electra_gradient_flow():
  """Generator learns only from MLM; shared embeddings learn from both losses."""
  model, b, p = _electra()
  sample = jnp.array([[10, 30, 0], [16, 31, 0]])
  term = lambda name: jax.jit(jax.grad(  # jit: op by op this test took ~50 s
      lambda q: model.apply({"params": q}, b, sample_ids=sample)[1][name]))(p)
  g_rtd, g_mlm = term("rtd_loss"), term("generator_mlm_loss")
  assert _norm(g_rtd["generator"]) == 0.0 and _norm(g_rtd["generator_head"]) == 0.0
  assert _norm(g_mlm["discriminator"]) == 0.0 and _norm(g_mlm["discriminator_head"]) == 0.0
  assert _norm(g_rtd["embeddings"]) > 0 and _norm(g_mlm["embeddings"]) > 0
  # The total is MLM + 50 * RTD.
  loss, m = model.apply({"params": p}, b, sample_ids=sample)
  np.testing.assert_allclose(loss, m["generator_mlm_loss"] + 50 * m["rtd_loss"], rtol=1e-6)
  # Two of the four real slots differ from the original (30 != 12, 31 != 20) over 14 tokens.
  np.testing.assert_allclose(m["rtd_replaced_fraction"], 2 / 14, rtol=1e-6)
  # disc_updates_embeddings=False: RTD trains the discriminator but not the shared embeddings.
  frozen = ElectraForPretraining(CFG.replace(use_pooler=False), GEN, disc_updates_embeddings=False)
  g = jax.jit(jax.grad(lambda q: frozen.apply({"params": q}, b, sample_ids=sample)[1]["rtd_loss"]))(p)
  assert _norm(g["embeddings"]) == 0.0 and _norm(g["discriminator"]) > 0
  for x, y in zip(jax.tree_util.tree_leaves(g["discriminator"]),
                  jax.tree_util.tree_leaves(g_rtd["discriminator"])):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-8)  # the same loss, the same gradient


def test_electra_sampling_needs_rng_and_is_keyed():
  model, b, p = _electra()
  run = lambda k: model.apply({"params": p}, b, rngs={"sampling": k})[0]
  np.testing.assert_array_equal(run(jax.random.key(5)), run(jax.random.key(5)))


def test_sbo_head_by_hand():
  """SBO logits equal the paper's formula computed with numpy from the same parameters."""
  model, b = pt.SpanBertForPretraining(CFG), _batch()
  p = nn.unbox(model.init(jax.random.key(0), b)["params"])
  hidden = model.apply({"params": p}, b["input_ids"], b["attention_mask"], None, None,
                       method=model.logits)["hidden"]
  sbo = model.bind({"params": p})
  got = sbo.sbo(hidden, b["sbo_left"], b["sbo_right"], b["sbo_rel"], sbo.encoder.attend)
  s, h = p["sbo"], np.asarray(hidden)
  gelu = lambda x: 0.5 * x * (1 + np.vectorize(__import__("math").erf)(x / np.sqrt(2)))
  ln = lambda x, q: (x - x.mean(-1, keepdims=True)) / np.sqrt(
      x.var(-1, keepdims=True) + CFG.layer_norm_eps) * q["scale"] + q["bias"]
  bi = np.arange(2)[:, None]
  x = np.concatenate([h[bi, b["sbo_left"]], h[bi, b["sbo_right"]],
                      np.asarray(s["position"]["embedding"])[b["sbo_rel"]]], -1)
  for i in range(2):
    x = ln(gelu(x @ s[f"dense_{i}"]["kernel"] + s[f"dense_{i}"]["bias"]), s[f"norm_{i}"])
  want = x @ np.asarray(p["encoder"]["embeddings"]["word"]["embedding"]).T + s["bias"]
  np.testing.assert_allclose(got, want, atol=2e-5)
