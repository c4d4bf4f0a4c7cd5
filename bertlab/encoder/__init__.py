"""The Transformer encoder shared by all five families."""

from bertlab.encoder.config import EncoderConfig
from bertlab.encoder.embeddings import Embeddings
from bertlab.encoder.encoder import Encoder

__all__ = ["EncoderConfig", "Embeddings", "Encoder"]
