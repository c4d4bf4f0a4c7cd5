"""Losses and metrics of the pretraining objectives. All reductions in float32."""

import jax
import jax.numpy as jnp
import optax


def _safe_div(a, b):
  return a / jnp.maximum(b, 1e-9)


def masked_lm(logits_BxPxV, ids_BxP, weights_BxP):
  """Mean cross-entropy over real prediction slots (weight 1), and accuracy.

  Padding slots carry weight 0, so any token id, including 0, is a valid target
  (unlike `labels > 0` conventions that drop token id 0).
  """
  logits = logits_BxPxV.astype(jnp.float32)
  w = weights_BxP.astype(jnp.float32)
  ce_BxP = optax.softmax_cross_entropy_with_integer_labels(logits, ids_BxP)
  n = w.sum()
  loss = _safe_div((ce_BxP * w).sum(), n)
  acc = _safe_div(((logits.argmax(-1) == ids_BxP) * w).sum(), n)
  return loss, {"loss": loss, "accuracy": acc, "count": n}


def sentence_pair(logits_Bx2, labels_B, weights_B=None):
  """NSP / SOP: mean cross-entropy over the examples, and accuracy.

  Packed rows give logits [B, S, 2] and labels [B, S] with `weights` 0 on empty slots.
  """
  logits = logits_Bx2.astype(jnp.float32)
  w = jnp.ones(labels_B.shape, jnp.float32) if weights_B is None else weights_B.astype(
      jnp.float32)
  n = w.sum()
  loss = _safe_div((optax.softmax_cross_entropy_with_integer_labels(logits, labels_B) * w).sum(), n)
  acc = _safe_div(((logits.argmax(-1) == labels_B) * w).sum(), n)
  return loss, {"loss": loss, "accuracy": acc}


def replaced_token_detection(logits_BxL, replaced_BxL, mask_BxL, auc: bool = False):
  """ELECTRA's RTD: sigmoid cross-entropy averaged over non-pad tokens.

  Also accuracy, precision/recall of the 'replaced' class (prediction = logit > 0), and with
  `auc` the AUC: early in training the discriminator predicts "original" everywhere, so recall
  at 0 says little while the AUC shows how well it ranks replaced tokens above original ones
  (a sort over every token of the batch: for evaluation, not for every training step).
  """
  logits = logits_BxL.astype(jnp.float32)
  y = replaced_BxL.astype(jnp.float32)
  m = mask_BxL.astype(jnp.float32)
  n = m.sum()
  loss = _safe_div((optax.sigmoid_binary_cross_entropy(logits, y) * m).sum(), n)
  pred = (logits > 0).astype(jnp.float32)
  tp = (pred * y * m).sum()
  metrics = {
      "loss": loss,
      "accuracy": _safe_div(((pred == y) * m).sum(), n),
      "precision": _safe_div(tp, (pred * m).sum()),
      "recall": _safe_div(tp, (y * m).sum()),
      "replaced_fraction": _safe_div((y * m).sum(), n),
  }
  if auc:
    metrics["auc"] = rank_auc(logits, y * m, (1 - y) * m)
  return loss, metrics


def rank_auc(scores, positive, negative):
  """P(score of a positive > score of a negative) (Mann-Whitney; ties count one half), over the
  elements flagged in the 0/1 arrays `positive` and `negative`; 0.5 when either set is empty."""
  s, pos, neg = scores.reshape(-1), positive.reshape(-1), negative.reshape(-1)
  order = jnp.argsort(s)
  s_sorted, pos_sorted, neg_sorted = s[order], pos[order], neg[order]
  # For each positive: the negatives strictly below it, plus half of those with an equal score.
  first = jnp.searchsorted(s_sorted, s_sorted, side="left")
  last = jnp.searchsorted(s_sorted, s_sorted, side="right")
  neg_cum = jnp.concatenate([jnp.zeros(1, neg_sorted.dtype), jnp.cumsum(neg_sorted)])
  below_strict = neg_cum[first]
  equal = neg_cum[last] - below_strict
  wins = (pos_sorted * (below_strict + 0.5 * equal)).sum()
  pairs = pos.sum() * neg.sum()
  return jnp.where(pairs > 0, wins / jnp.maximum(pairs, 1.0), 0.5)


def gumbel_max_sample(key, logits_xV, temperature=1.0):
  """One token per row from softmax(logits / T) by the Gumbel-max trick, no gradient."""
  logits = jax.lax.stop_gradient(logits_xV.astype(jnp.float32)) / temperature
  return jax.random.categorical(key, logits, axis=-1)
