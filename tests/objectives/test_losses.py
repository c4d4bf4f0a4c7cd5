"""Each objective's loss against a value computed by hand."""

import jax
import jax.numpy as jnp
import numpy as np

from bertlab.objectives import losses
from bertlab.objectives.electra import corrupt


def test_masked_lm_by_hand_counts_token_id_zero_and_skips_padding_slots():
  logits = jnp.array([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [9.0, 9.0, 9.0]]])
  ids = jnp.array([[0, 2, 1]])  # id 0 is a real target; slot 3 is padding
  w = jnp.array([[1.0, 1.0, 0.0]])
  loss, m = losses.masked_lm(logits, ids, w)
  ce0 = -np.log(np.exp(2) / (np.exp(2) + 2))
  ce1 = -np.log(1 / (np.exp(1) + 2))
  np.testing.assert_allclose(loss, (ce0 + ce1) / 2, rtol=1e-6)
  np.testing.assert_allclose(m["accuracy"], 0.5)
  assert m["count"] == 2


def test_sentence_pair_by_hand():
  logits = jnp.array([[1.0, 0.0], [0.0, 3.0]])
  loss, m = losses.sentence_pair(logits, jnp.array([1, 1]))
  want = (np.log(1 + np.e) - 0 + np.log(1 + np.exp(3)) - 3) / 2
  np.testing.assert_allclose(loss, want, rtol=1e-6)
  np.testing.assert_allclose(m["accuracy"], 0.5)


def test_rtd_by_hand_ignores_padding():
  logits = jnp.array([[0.0, 2.0, -1.0, 5.0]])
  replaced = jnp.array([[0, 1, 1, 0]])
  mask = jnp.array([[1, 1, 1, 0]])
  loss, m = losses.replaced_token_detection(logits, replaced, mask)
  sp = lambda x: np.log1p(np.exp(x))  # -log sigmoid(-x)
  want = (sp(0.0) + sp(-2.0) + sp(1.0)) / 3
  np.testing.assert_allclose(loss, want, rtol=1e-6)
  # Predictions (logit > 0) on the 3 real tokens: 0, 1, 0 against labels 0, 1, 1.
  np.testing.assert_allclose(m["accuracy"], 2 / 3, rtol=1e-6)
  np.testing.assert_allclose(m["precision"], 1.0)
  np.testing.assert_allclose(m["recall"], 0.5)
  assert "auc" not in m  # a sort over the batch: evaluation only
  # AUC over the real tokens: replaced 2.0 beats original 0.0, replaced -1.0 does not: 1/2.
  _, m = losses.replaced_token_detection(logits, replaced, mask, auc=True)
  np.testing.assert_allclose(m["auc"], 0.5)


def test_rank_auc_by_hand_with_ties_and_against_all_pairs():
  # Positives score 1 and 0, negatives 1 and 3: one tie (1/2) and three losses -> 0.5 / 4.
  s, pos = jnp.array([1.0, 1.0, 3.0, 0.0]), jnp.array([1.0, 0.0, 0.0, 1.0])
  np.testing.assert_allclose(losses.rank_auc(s, pos, 1 - pos), 0.125)
  rng = np.random.default_rng(0)
  s = np.round(rng.normal(size=(4, 50)), 1)  # rounded: many ties
  y = rng.random((4, 50)) < 0.2
  m = rng.random((4, 50)) < 0.9
  p, n = s[y & m], s[~y & m]
  want = ((p[:, None] > n[None]).sum() + 0.5 * (p[:, None] == n[None]).sum()) / (p.size * n.size)
  got = losses.rank_auc(jnp.asarray(s), jnp.asarray(y & m, jnp.float32),
                        jnp.asarray(~y & m, jnp.float32))
  np.testing.assert_allclose(got, want, rtol=1e-6)
  assert losses.rank_auc(jnp.asarray(s), jnp.zeros((4, 50)), jnp.ones((4, 50))) == 0.5


def test_corrupt_marks_replaced_only_where_sample_differs():
  ids = jnp.array([[1, 4, 4, 7, 9, 0]])  # 4 = [MASK] at positions 1, 2
  pos = jnp.array([[1, 2, 0]])
  w = jnp.array([[1.0, 1.0, 0.0]])  # slot 3 is padding and must not touch position 0
  original = jnp.array([[5, 6, 0]])
  sample = jnp.array([[5, 8, 3]])  # correct guess at position 1, wrong at 2
  fake, replaced = corrupt(ids, pos, w, sample, original)
  np.testing.assert_array_equal(fake, [[1, 5, 8, 7, 9, 0]])
  np.testing.assert_array_equal(replaced, [[0, 0, 1, 0, 0, 0]])


def test_gumbel_max_samples_follow_softmax():
  logits = jnp.log(jnp.array([0.5, 0.3, 0.2]))
  keys = jax.random.split(jax.random.key(0), 20000)
  s = jax.vmap(lambda k: losses.gumbel_max_sample(k, logits))(keys)
  freq = np.bincount(np.asarray(s), minlength=3) / s.size
  # 5 standard errors of a proportion at n=20000 is <= 0.018.
  np.testing.assert_allclose(freq, [0.5, 0.3, 0.2], atol=0.018)
  hot = jax.vmap(lambda k: losses.gumbel_max_sample(k, logits, temperature=0.05))(keys[:500])
  assert (np.asarray(hot) == 0).all()  # low temperature -> argmax
