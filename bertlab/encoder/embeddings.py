"""Token, position and token-type embeddings, summed and normalised (all five families)."""

import chex
import flax.linen as nn
import jax.numpy as jnp

from bertlab.encoder.common import compute_dtype, kernel_init, layer_norm
from bertlab.encoder.config import EncoderConfig
from bertlab.encoder.dropout import Dropout


class Embeddings(nn.Module):
  """input ids -> E-wide embeddings (E = embedding_size, H when unset).

  ELECTRA's generator and discriminator share one instance of this module.
  """

  config: EncoderConfig

  def setup(self):
    cfg = self.config
    e = cfg.embed_dim

    def table(n, axes, name):
      return nn.Embed(n, e, embedding_init=kernel_init(cfg, axes), param_dtype=jnp.float32,
                      dtype=compute_dtype(cfg), name=name)

    # padded_vocab_size rows (vocab_multiple): ids >= vocab_size are never fed nor predicted.
    self.word = table(cfg.padded_vocab_size, ("vocab", "embed"), "word")
    self.position = table(cfg.max_position_embeddings, (None, "embed"), "position")
    self.token_type = table(cfg.type_vocab_size, (None, "embed"), "token_type")
    self.norm = layer_norm(cfg, "norm")
    self.dropout = Dropout(cfg.hidden_dropout)

  def __call__(self, input_ids_BxL, token_type_ids_BxL=None, position_ids_BxL=None,
               deterministic: bool = True):
    cfg = self.config
    b, l = input_ids_BxL.shape
    if l > cfg.max_length:
      raise ValueError(f"sequence length {l} exceeds the {cfg.max_length} positions this encoder "
                       f"has (max_position_embeddings={cfg.max_position_embeddings}, "
                       f"position_offset={cfg.position_offset}); truncate the input")
    if token_type_ids_BxL is None:
      token_type_ids_BxL = jnp.zeros_like(input_ids_BxL)
    if position_ids_BxL is None:
      # RoBERTa's layout reserves the first pad_token_id + 1 rows (position_offset).
      position_ids_BxL = cfg.position_offset + jnp.arange(l)[None, :]
    x_BxLxE = (self.word(input_ids_BxL) + self.position(position_ids_BxL)
               + self.token_type(token_type_ids_BxL))
    x_BxLxE = self.norm(x_BxLxE)
    x_BxLxE = self.dropout(x_BxLxE, deterministic=deterministic)
    chex.assert_shape(x_BxLxE, (b, l, cfg.embed_dim))
    return x_BxLxE

  def attend(self, x_xE):
    """Logits against the word table (the tied output layer of MLM heads): [..., E] -> [..., V]
    with V = padded_vocab_size; heads mask the padded columns (encoder/vocab.py)."""
    return self.word.attend(x_xE)
