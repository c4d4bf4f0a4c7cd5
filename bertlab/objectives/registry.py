"""Family name -> pretraining model, and the masking strategy each family uses by default."""

from __future__ import annotations

import flax.linen as nn

from bertlab.encoder import EncoderConfig
from bertlab.objectives.electra import ElectraForPretraining
from bertlab.objectives.pretraining import (AlbertForPretraining, BertForPretraining,
                                            RobertaForPretraining, SpanBertForPretraining)

FAMILIES = ("bert", "albert", "roberta", "electra", "spanbert")

# The papers' masking: BERT token-level, ALBERT whole-word n-grams, RoBERTa token-level (dynamic),
# ELECTRA 85/15 without random tokens, SpanBERT geometric spans over whole words.
DEFAULT_MASKING = {"bert": "token", "albert": "ngram", "roberta": "token", "electra": "electra",
                   "spanbert": "span"}


def build_model(family: str, config: EncoderConfig, generator: EncoderConfig | None = None,
                rtd_weight: float = 50.0, temperature: float = 1.0, sbo_max_targets: int = 15,
                sbo_position_dim: int = 200, disc_updates_embeddings: bool = True) -> nn.Module:
  if family not in FAMILIES:
    raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
  if family == "electra":
    if generator is None:
      raise ValueError("ELECTRA needs a generator config")
    return ElectraForPretraining(config, generator, rtd_weight=rtd_weight, temperature=temperature,
                                 disc_updates_embeddings=disc_updates_embeddings)
  if family == "spanbert":
    return SpanBertForPretraining(config, sbo_max_targets=sbo_max_targets,
                                  sbo_position_dim=sbo_position_dim)
  return {"bert": BertForPretraining, "albert": AlbertForPretraining,
          "roberta": RobertaForPretraining}[family](config)
