"""Padded vocabulary rows are never predicted: their logits are masked before any softmax.

`EncoderConfig.vocab_multiple` pads the word table and the MLM biases to `padded_vocab_size`
so that a tensor axis divides them. The padded columns of the logits get a large negative
value (not -inf, so that 0 * log p stays 0 in a KL or an entropy, and a temperature never
turns it into -inf - -inf = NaN). exp of it is exactly 0 in float32, so a softmax, a
cross-entropy, an argmax or a top-k over the padded logits equal the unpadded model's, and a
Gumbel-max sample never picks a padded id (same distribution; for one key the draws differ from
an unpadded model's, whose noise has fewer columns). The vocabulary dimension keeps its
shardable length: nothing is sliced.
"""

import jax.numpy as jnp


def masked_value(dtype) -> float:
  """The logit of a padded id: -1e9, or half the most negative finite value of a dtype whose
  range is smaller (float16)."""
  return max(-1e9, float(jnp.finfo(dtype).min) / 2)


def mask_padded_logits(logits_xV, vocab_size: int):
  """logits [..., V_padded] with the columns >= vocab_size set to `masked_value` (a no-op when
  nothing is padded). The mask is an iota comparison: it shards with the vocabulary axis."""
  if logits_xV.shape[-1] == vocab_size:
    return logits_xV
  if logits_xV.shape[-1] < vocab_size:
    raise ValueError(f"logits have {logits_xV.shape[-1]} columns, fewer than the vocabulary's "
                     f"{vocab_size} ids; the output layer belongs to another vocabulary")
  ids_V = jnp.arange(logits_xV.shape[-1])
  return jnp.where(ids_V < vocab_size, logits_xV,
                   jnp.asarray(masked_value(logits_xV.dtype), logits_xV.dtype))
