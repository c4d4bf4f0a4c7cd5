"""Multi-head self-attention with a padding mask (or a packed rows' block-diagonal mask)."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from bertlab.encoder.common import compute_dtype, dense
from bertlab.encoder.config import EncoderConfig
from bertlab.encoder.dropout import Dropout


class SelfAttention(nn.Module):
  """Returns the attention block's output projection (before residual and LayerNorm).

  Inference, and training without attention dropout, go through
  `jax.nn.dot_product_attention` (XLA or cuDNN fused kernels). The references drop out
  attention probabilities while training, which that API cannot do, so that case computes
  the softmax explicitly.
  """

  config: EncoderConfig

  @nn.compact
  def __call__(self, x_BxLxH, mask, deterministic: bool = True):
    """mask: [B, L] keys to attend to (1 = token, 0 = pad), or [B, L, L] query x key pairs
    (packed rows: each example attends only to itself; see `Encoder`)."""
    cfg = self.config
    n, d = cfg.num_heads, cfg.head_dim
    proj = lambda name: dense(cfg, (n, d), ("embed", "heads", "kv"), name)
    q_BxLxNxD = proj("query")(x_BxLxH)
    k_BxLxNxD = proj("key")(x_BxLxH)
    v_BxLxNxD = proj("value")(x_BxLxH)
    # Keys that are padding (or another packed example) are never attended to.
    chex.assert_rank(mask, {2, 3})
    mask_Bx1xQxK = (mask[:, None, None, :] if mask.ndim == 2 else mask[:, None]).astype(bool)

    if deterministic or cfg.attention_dropout == 0.0:
      out_BxLxNxD = jax.nn.dot_product_attention(
          q_BxLxNxD, k_BxLxNxD, v_BxLxNxD, mask=mask_Bx1xQxK,
          implementation="cudnn" if cfg.attention_impl == "cudnn" else None)
    else:
      logits_BxNxLxL = jnp.einsum("bqnd,bknd->bnqk", q_BxLxNxD, k_BxLxNxD) / jnp.sqrt(d).astype(
          q_BxLxNxD.dtype)
      logits_BxNxLxL = jnp.where(mask_Bx1xQxK, logits_BxNxLxL,
                                 jnp.finfo(logits_BxNxLxL.dtype).min)
      probs_BxNxLxL = jax.nn.softmax(logits_BxNxLxL.astype(jnp.float32), axis=-1).astype(
          compute_dtype(cfg))
      probs_BxNxLxL = Dropout(cfg.attention_dropout)(probs_BxNxLxL, deterministic=False)
      out_BxLxNxD = jnp.einsum("bnqk,bknd->bqnd", probs_BxNxLxL, v_BxLxNxD)

    chex.assert_equal_shape([out_BxLxNxD, q_BxLxNxD])
    return dense(cfg, cfg.hidden_size, ("heads", "kv", "embed"), "out", axis=(-2, -1))(out_BxLxNxD)
