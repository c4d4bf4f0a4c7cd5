"""One Transformer layer: attention and feed-forward blocks, post-LN (BERT) or pre-LN."""

import flax.linen as nn

from bertlab.encoder.attention import SelfAttention
from bertlab.encoder.common import activation, dense, layer_norm
from bertlab.encoder.config import EncoderConfig
from bertlab.encoder.dropout import Dropout
from bertlab.encoder.rows import split_rows


class FeedForward(nn.Module):
  config: EncoderConfig

  @nn.compact
  def __call__(self, x_BxLxH):
    cfg = self.config
    h_BxLxF = dense(cfg, cfg.intermediate_size, ("embed", "mlp"), "wi")(x_BxLxH)
    h_BxLxF = activation(cfg.hidden_act)(h_BxLxF)
    return dense(cfg, cfg.hidden_size, ("mlp", "embed"), "wo")(h_BxLxF)


class Layer(nn.Module):
  """x -> x' of the same shape. Written as a scan body: (carry, mask) -> (carry, None);
  mask is [B, L] (padding) or [B, L, L] (packed rows)."""

  config: EncoderConfig
  deterministic: bool = True

  @nn.compact
  def __call__(self, x_BxLxH, mask):
    cfg = self.config
    x_BxLxH = split_rows(x_BxLxH)  # FSDP gathers weights, never activations (encoder/rows.py)
    drop = lambda y: Dropout(cfg.hidden_dropout)(y, deterministic=self.deterministic)
    attn = SelfAttention(cfg, name="attention")
    ffn = FeedForward(cfg, name="mlp")
    ln_attn = layer_norm(cfg, "attention_norm")
    ln_mlp = layer_norm(cfg, "mlp_norm")
    if cfg.pre_layer_norm:
      x_BxLxH = x_BxLxH + drop(attn(ln_attn(x_BxLxH), mask, self.deterministic))
      x_BxLxH = x_BxLxH + drop(ffn(ln_mlp(x_BxLxH)))
    else:
      x_BxLxH = ln_attn(x_BxLxH + drop(attn(x_BxLxH, mask, self.deterministic)))
      x_BxLxH = ln_mlp(x_BxLxH + drop(ffn(x_BxLxH)))
    return x_BxLxH, None
