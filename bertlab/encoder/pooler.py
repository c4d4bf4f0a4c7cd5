"""BERT's pooler: tanh(dense(h[CLS]))."""

import chex

import flax.linen as nn
import jax.numpy as jnp

from bertlab.encoder.common import dense
from bertlab.encoder.config import EncoderConfig


class Pooler(nn.Module):
  config: EncoderConfig

  @nn.compact
  def __call__(self, x_BxLxH, cls_positions_BxS=None):
    """[B, H] from each row's first token; or [B, S, H] from the [CLS] of each packed example."""
    if cls_positions_BxS is None:
      cls = x_BxLxH[:, 0]
    else:
      chex.assert_rank(cls_positions_BxS, 2)
      cls = jnp.take_along_axis(x_BxLxH, cls_positions_BxS[..., None].astype(jnp.int32), axis=1)
    return jnp.tanh(dense(self.config, self.config.hidden_size, ("embed", "mlp"), "dense")(cls))
