"""ELECTRA's generator-discriminator coupling (Clark et al. 2020).

A small MLM generator fills the masked positions with Gumbel-max samples (no gradient
through sampling); the discriminator labels every non-pad token as original or replaced
("replaced" only where the sample differs from the original). Both networks are Encoders
around ONE Embeddings module (token, position, segment tables and the embedding LayerNorm),
so the shared embeddings learn from both losses; each network keeps its own E->H projection.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from bertlab.encoder import Embeddings, Encoder, EncoderConfig
from bertlab.objectives import losses
from bertlab.objectives.heads import DiscriminatorHead, MlmHead, gather_positions
from bertlab.objectives.pretraining import packed_inputs

SHARED_FIELDS = ("vocab_size", "vocab_multiple", "embedding_size", "max_position_embeddings",
                 "type_vocab_size", "position_offset", "pad_token_id", "dtype")


class ElectraForPretraining(nn.Module):
  config: EncoderConfig  # the discriminator
  generator_config: EncoderConfig
  rtd_weight: float = 50.0  # λ, ELECTRA §3.2
  temperature: float = 1.0
  # ELECTRA shares the token, position and segment embeddings and lets both losses train them
  # (§3.2). False keeps RTD's gradient out of them (the generator's MLM alone trains them): on
  # a toy where only context tells a replaced token, full sharing stalls both networks, in the
  # reference implementation too (tests/objectives/test_electra_context.py).
  disc_updates_embeddings: bool = True

  def setup(self):
    d, g = self.config, self.generator_config
    diff = [f for f in SHARED_FIELDS if getattr(d, f) != getattr(g, f)
            and not (f == "embedding_size" and d.embed_dim == g.embed_dim)]
    if diff:
      raise ValueError("generator and discriminator share embeddings, so these fields must "
                       f"match: {[(f, getattr(g, f), getattr(d, f)) for f in diff]}")
    self.embeddings = Embeddings(d)
    self.generator = Encoder(g, shared_embeddings=self.embeddings)
    self.discriminator = Encoder(d, shared_embeddings=self.embeddings,
                                 update_embeddings=self.disc_updates_embeddings)
    self.generator_head = MlmHead(g, out_dim=d.embed_dim)
    self.discriminator_head = DiscriminatorHead(d)

  def generator_logits(self, input_ids, attention_mask=None, token_type_ids=None,
                       mlm_positions=None, deterministic=True, packed=None):
    h, _ = self.generator(input_ids, attention_mask, token_type_ids, deterministic=deterministic,
                          **(packed or {}))
    x = h if mlm_positions is None else gather_positions(h, mlm_positions)
    return self.generator_head(x, self.generator.attend)

  def discriminator_logits(self, input_ids, attention_mask=None, token_type_ids=None,
                           deterministic=True, packed=None):
    h, _ = self.discriminator(input_ids, attention_mask, token_type_ids,
                              deterministic=deterministic, **(packed or {}))
    return self.discriminator_head(h)

  def __call__(self, batch, deterministic: bool = True, sample_ids=None):
    """`sample_ids` [B, P] replaces sampling (for tests); otherwise a "sampling" RNG is used."""
    ids, mask, types = batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")
    pos, w = batch["mlm_positions"], batch["mlm_weights"]
    packed = packed_inputs(batch, self.config)  # no pooler in ELECTRA: no cls_positions
    gen_logits = self.generator_logits(ids, mask, types, pos, deterministic, packed)
    mlm_loss, mlm_m = losses.masked_lm(gen_logits, batch["mlm_ids"], w)

    if sample_ids is None:
      sample_ids = losses.gumbel_max_sample(self.make_rng("sampling"), gen_logits,
                                            self.temperature)
    fake_ids, replaced = corrupt(ids, pos, w, sample_ids, batch["mlm_ids"])
    disc_logits = self.discriminator_logits(fake_ids, mask, types, deterministic, packed)
    rtd_loss, rtd_m = losses.replaced_token_detection(disc_logits, replaced, mask,
                                                       auc=deterministic)

    loss = mlm_loss + self.rtd_weight * rtd_loss
    metrics = {f"generator_mlm_{k}": v for k, v in mlm_m.items()}
    metrics.update({f"rtd_{k}": v for k, v in rtd_m.items()})
    metrics["loss"] = loss
    return loss, metrics


def corrupt(ids_BxL, positions_BxP, weights_BxP, sample_BxP, original_BxP):
  """Put the samples at the masked positions; 'replaced' where they differ from the original.

  Padding prediction slots (weight 0) leave the input as it is.
  """
  b = jnp.arange(ids_BxL.shape[0])[:, None]
  real = weights_BxP > 0
  current_BxP = ids_BxL[b, positions_BxP]
  fake_BxL = ids_BxL.at[b, positions_BxP].set(
      jnp.where(real, sample_BxP, current_BxP).astype(ids_BxL.dtype))
  replaced_BxP = real & (sample_BxP != original_BxP)
  replaced_BxL = jnp.zeros(ids_BxL.shape, bool).at[b, positions_BxP].max(replaced_BxP)
  return fake_BxL, replaced_BxL
