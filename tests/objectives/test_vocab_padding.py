"""A padded vocabulary (EncoderConfig.vocab_multiple) never predicts a padded id: every family's
loss, accuracy and gradient equal the unpadded model's whatever the padded rows hold."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bertlab.encoder import EncoderConfig
from bertlab.encoder.vocab import mask_padded_logits
from bertlab.objectives import losses
from bertlab.objectives import pretraining as pt
from bertlab.objectives.electra import ElectraForPretraining

V = 50  # padded to 64 by vocab_multiple=32
CFG = EncoderConfig(vocab_size=V, hidden_size=24, num_layers=1, num_heads=2,
                    intermediate_size=40, embedding_size=16, max_position_embeddings=16,
                    hidden_dropout=0.0, attention_dropout=0.0)
GEN = CFG.replace(hidden_size=12, intermediate_size=20, use_pooler=False)


def _batch():
  b = pt.zeros_like_batch(2, 8, 3)
  b["input_ids"] = jnp.array([[2, 4, 11, 4, 13, 3, 0, 0], [2, 15, 4, 17, 18, 19, 4, 49]])
  b["attention_mask"] = (b["input_ids"] > 0).astype(jnp.int32)
  b["mlm_positions"] = jnp.array([[1, 3, 0], [2, 6, 7]])
  b["mlm_ids"] = jnp.array([[10, 12, 0], [16, 49, 0]])
  b["mlm_weights"] = jnp.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
  b["nsp_label"] = jnp.array([0, 1])
  b["sop_label"] = jnp.array([1, 0])
  b["sbo_left"] = jnp.array([[0, 2, 0], [1, 5, 0]])
  b["sbo_right"] = jnp.array([[2, 4, 0], [3, 7, 0]])
  b["sbo_weights"] = b["mlm_weights"]
  return b


def _pad(params_small, params_big, rng):
  """params_big's shapes, params_small's values; the padded rows filled with large noise."""
  def one(small, big):
    if small.shape == big.shape:
      return small
    noise = 30.0 * jax.random.normal(rng, big.shape)
    return noise.at[tuple(slice(0, n) for n in small.shape)].set(small)
  return jax.tree.map(one, params_small, params_big)


MODELS = {
    "bert": lambda c, g: pt.BertForPretraining(c),
    "albert": lambda c, g: pt.AlbertForPretraining(c),
    "roberta": lambda c, g: pt.RobertaForPretraining(c.replace(pad_token_id=1,
                                                               position_offset=2)),
    "spanbert": lambda c, g: pt.SpanBertForPretraining(c),
    "electra": lambda c, g: ElectraForPretraining(c.replace(use_pooler=False), g),
}


def _models(family):
  small = MODELS[family](CFG, GEN)
  big = MODELS[family](CFG.replace(vocab_multiple=32), GEN.replace(vocab_multiple=32))
  b = _batch()
  kw = {"sample_ids": jnp.array([[10, 7, 0], [16, 3, 5]])} if family == "electra" else {}
  shapes = lambda m: nn.unbox(jax.eval_shape(lambda: m.init(jax.random.key(0), b, **kw)))
  p_small = nn.unbox(small.init(jax.random.key(0), b, **kw))["params"]
  p_big = _pad(p_small, shapes(big)["params"], jax.random.key(9))
  loss = jax.jit(lambda model, p: model.apply({"params": p}, b, **kw), static_argnums=0)
  return small, big, p_small, p_big, loss


@pytest.mark.parametrize("family", sorted(MODELS))
def test_padded_vocab_gives_the_unpadded_loss(family):
  small, big, p_small, p_big, loss = _models(family)
  word = (p_big["embeddings"] if family == "electra" else p_big["encoder"]["embeddings"])
  assert word["word"]["embedding"].shape == (64, 16)  # ALBERT / ELECTRA: the E-wide table
  l_small, m_small = loss(small, p_small)
  l_big, m_big = loss(big, p_big)
  # A reduction over 64 columns may group the 50 real ones differently: float rounding only.
  np.testing.assert_allclose(l_big, l_small, rtol=1e-6)
  for k in m_small:
    np.testing.assert_allclose(m_big[k], m_small[k], rtol=1e-6, atol=1e-7, err_msg=k)


def test_padded_rows_get_no_gradient():
  small, big, p_small, p_big, _ = _models("bert")
  grad = jax.jit(jax.grad(lambda model, p: model.apply({"params": p}, _batch())[0], argnums=1),
                 static_argnums=0)
  g_small, g_big = grad(small, p_small), grad(big, p_big)

  def check(gs, gb):
    real = gb[tuple(slice(0, n) for n in gs.shape)]
    np.testing.assert_allclose(real, gs, rtol=2e-5, atol=1e-7)
    padded = np.array(gb)
    padded[tuple(slice(0, n) for n in gs.shape)] = 0
    assert not padded.any()
  jax.tree.map(check, g_small, g_big)


def test_masked_logits_are_never_predicted_nor_sampled():
  logits = jnp.concatenate([jnp.zeros((4, 5)), jnp.full((4, 3), 1e4)], axis=-1)  # pads win
  masked = mask_padded_logits(logits, 5)
  assert masked.shape == (4, 8)
  assert int(masked.argmax(-1).max()) < 5
  samples = losses.gumbel_max_sample(jax.random.key(0), jnp.tile(masked, (500, 1)))
  assert int(samples.max()) < 5 and len(set(np.asarray(samples).tolist())) == 5
  probs = jax.nn.softmax(masked)
  assert float(probs[:, 5:].max()) == 0.0
  np.testing.assert_allclose(probs[:, :5], 0.2, rtol=1e-6)
  # bfloat16 and float16 logits: a finite mask value, exp of it 0
  for dtype in (jnp.bfloat16, jnp.float16):
    m = mask_padded_logits(logits.astype(dtype), 5)
    assert bool(jnp.isfinite(m).all()) and float(jax.nn.softmax(m.astype(jnp.float32))[0, 7]) == 0
  assert mask_padded_logits(logits, 8) is logits
  with pytest.raises(ValueError, match="fewer than the vocabulary"):
    mask_padded_logits(logits, 9)


def test_config_pads_to_the_multiple():
  assert EncoderConfig(vocab_size=30522, vocab_multiple=128).padded_vocab_size == 30592
  assert EncoderConfig(vocab_size=50265, vocab_multiple=128).padded_vocab_size == 50304
  assert EncoderConfig(vocab_size=30522).padded_vocab_size == 30522
  with pytest.raises(ValueError, match="vocab_multiple"):
    EncoderConfig(vocab_multiple=0)
