"""Pretraining heads: MLM (tied decoder), NSP/SOP classifier, ELECTRA discriminator, SpanBERT SBO."""

import chex
import flax.linen as nn
import jax.numpy as jnp

from bertlab.encoder.common import activation, bias_init, compute_dtype, dense, layer_norm
from bertlab.encoder.config import EncoderConfig
from bertlab.encoder.dropout import Dropout
from bertlab.encoder.vocab import mask_padded_logits


def gather_positions(x_BxLxH, positions_BxP):
  """x at the given positions of each row: [B, L, H], [B, P] -> [B, P, H]."""
  return jnp.take_along_axis(x_BxLxH, positions_BxP[..., None].astype(jnp.int32), axis=1)


class MlmHead(nn.Module):
  """transform (dense -> act -> LayerNorm) then logits against the tied word table + bias.

  `out_dim` is the embedding width E: BERT/RoBERTa have E = H; ALBERT and ELECTRA's
  generator map H -> E here so the decoder can be the E-wide embedding table.
  Called only on the masked positions: at vocab 30k the decoder is most of the head's FLOPs.
  Logits are [B, P, padded_vocab_size] with the padded ids masked (never predicted).
  """

  config: EncoderConfig
  out_dim: int

  @nn.compact
  def __call__(self, x_BxPxH, attend):
    cfg = self.config
    h_BxPxE = dense(cfg, self.out_dim, ("embed", None), "transform")(x_BxPxH)
    h_BxPxE = activation(cfg.hidden_act)(h_BxPxE)
    h_BxPxE = layer_norm(cfg, "transform_norm", axis_name=None)(h_BxPxE)
    bias_V = self.param("bias", bias_init(("vocab",)), (cfg.padded_vocab_size,), jnp.float32)
    logits_BxPxV = attend(h_BxPxE) + bias_V.astype(compute_dtype(cfg))
    return mask_padded_logits(logits_BxPxV, cfg.vocab_size)


class PairClassifier(nn.Module):
  """NSP (BERT) or SOP (ALBERT): 2-way logits from the pooled [CLS] state."""

  config: EncoderConfig

  @nn.compact
  def __call__(self, pooled_BxH, deterministic=True):
    pooled_BxH = Dropout(self.config.hidden_dropout)(pooled_BxH, deterministic=deterministic)
    return dense(self.config, 2, ("embed", None), "classifier")(pooled_BxH)


class DiscriminatorHead(nn.Module):
  """ELECTRA's replaced-token detector: dense -> act -> dense(1), per token."""

  config: EncoderConfig

  @nn.compact
  def __call__(self, x_BxLxH):
    cfg = self.config
    h_BxLxH = dense(cfg, cfg.hidden_size, ("embed", "mlp"), "dense")(x_BxLxH)
    h_BxLxH = activation(cfg.hidden_act)(h_BxLxH)
    return dense(cfg, 1, ("mlp", None), "prediction")(h_BxLxH)[..., 0]


class SpanBoundaryHead(nn.Module):
  """SpanBERT's SBO: predict each span token from x(s-1), x(e+1) and its relative position.

  h0 = [x_left; x_right; p_rel]; two blocks of dense -> GeLU -> LayerNorm; then the tied
  decoder (Joshi et al. 2020 §3.2). `max_targets` relative positions of `position_dim` each.
  """

  config: EncoderConfig
  max_targets: int = 15
  position_dim: int = 200

  @nn.compact
  def __call__(self, hidden_BxLxH, left_BxP, right_BxP, rel_BxP, attend):
    cfg = self.config
    b, p = left_BxP.shape
    rel_BxP = jnp.clip(rel_BxP, 0, self.max_targets - 1)
    pos_BxPxR = nn.Embed(self.max_targets, self.position_dim, param_dtype=jnp.float32,
                         dtype=compute_dtype(cfg),
                         embedding_init=nn.with_logical_partitioning(
                             nn.initializers.normal(cfg.initializer_range), (None, None)),
                         name="position")(rel_BxP)
    h_BxPxD = jnp.concatenate([gather_positions(hidden_BxLxH, left_BxP),
                               gather_positions(hidden_BxLxH, right_BxP), pos_BxPxR], axis=-1)
    # The second block ends at the embedding width E so that the tied decoder applies
    # (E = H in SpanBERT itself).
    for i, width in enumerate((cfg.hidden_size, cfg.embed_dim)):
      h_BxPxD = dense(cfg, width, (None, "embed"), f"dense_{i}")(h_BxPxD)
      h_BxPxD = layer_norm(cfg, f"norm_{i}")(activation("gelu")(h_BxPxD))
    chex.assert_shape(h_BxPxD, (b, p, cfg.embed_dim))
    bias_V = self.param("bias", bias_init(("vocab",)), (cfg.padded_vocab_size,), jnp.float32)
    return mask_padded_logits(attend(h_BxPxD) + bias_V.astype(compute_dtype(cfg)),
                              cfg.vocab_size)
