"""BERT's pooler: tanh(dense(h[CLS]))."""

import flax.linen as nn
import jax.numpy as jnp

from bertlab.encoder.common import dense
from bertlab.encoder.config import EncoderConfig


class Pooler(nn.Module):
  config: EncoderConfig

  @nn.compact
  def __call__(self, x_BxLxH):
    cls_BxH = x_BxLxH[:, 0]
    return jnp.tanh(dense(self.config, self.config.hidden_size, ("embed", "mlp"), "dense")(cls_BxH))
