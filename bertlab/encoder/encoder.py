"""The encoder: embeddings -> (E->H projection) -> layer stack -> (pooler)."""

from __future__ import annotations

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from bertlab.encoder.common import dense
from bertlab.encoder.config import EncoderConfig
from bertlab.encoder.embeddings import Embeddings
from bertlab.encoder.pooler import Pooler
from bertlab.encoder.stack import Stack


class Encoder(nn.Module):
  """`apply({"params": p}, input_ids, attention_mask, token_type_ids, deterministic)`
  -> (hidden_BxLxH, pooled_BxH or None).

  Packed rows (several examples per row, `bertlab.data.packing`) pass `segment_ids` [B, L]
  (1, 2, ... per example, 0 on pads: attention stays within an example), `position_ids`
  restarting at each example, and `cls_positions` [B, S] (the pooled output is then
  [B, S, H], one per example).

  `shared_embeddings` may be passed in (an `Embeddings` bound elsewhere): ELECTRA's generator and
  discriminator are two Encoders around one shared embedding module. Its width E may differ
  from this encoder's H; each encoder then owns its own E->H projection. With
  `update_embeddings=False` this encoder's loss does not reach the (shared) embeddings: the
  gradient stops at their output, as the ELECTRA reference's `update_embeddings` flag does.
  """

  config: EncoderConfig
  shared_embeddings: nn.Module | None = None
  update_embeddings: bool = True

  def setup(self):
    cfg = self.config
    self.embeddings = (self.shared_embeddings if self.shared_embeddings is not None
                       else Embeddings(cfg))
    e = self.embeddings.config.embed_dim
    self.projection = (dense(cfg, cfg.hidden_size, (None, "embed"), "projection")
                       if e != cfg.hidden_size else None)
    self.stack = Stack(cfg)
    self.pooler = Pooler(cfg) if cfg.use_pooler else None

  def __call__(self, input_ids, attention_mask=None, token_type_ids=None, deterministic=True,
               position_ids=None, segment_ids=None, cls_positions=None):
    chex.assert_rank(input_ids, 2)
    if attention_mask is None:
      attention_mask = jnp.ones_like(input_ids)
    chex.assert_equal_shape([input_ids, attention_mask])
    if token_type_ids is not None:
      chex.assert_equal_shape([input_ids, token_type_ids])
    x = self.embeddings(input_ids, token_type_ids, position_ids, deterministic=deterministic)
    if not self.update_embeddings:
      x = jax.lax.stop_gradient(x)
    if self.projection is not None:
      x = self.projection(x)
    mask = attention_mask
    if segment_ids is not None:
      chex.assert_equal_shape([input_ids, segment_ids])
      same_BxLxL = segment_ids[:, :, None] == segment_ids[:, None, :]
      mask = same_BxLxL & (segment_ids[:, None, :] > 0)
    x_BxLxH = self.stack(x, mask, deterministic)
    pooled_BxH = self.pooler(x_BxLxH, cls_positions) if self.pooler is not None else None
    return x_BxLxH, pooled_BxH

  def attend(self, x_xE):
    """Logits against the (shared) word-embedding table: [..., E] -> [..., V]."""
    return self.embeddings.attend(x_xE)
