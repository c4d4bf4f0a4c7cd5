"""Fine-tuning heads on the encoder's output: sentence classification, token tagging, spans.

Each head mirrors the Hugging Face class its family's checkpoints carry, so a converted
checkpoint computes the same logits (tests/tasks/test_heads_parity.py):
  sentence, "pooled"  (BERT, ALBERT, SpanBERT): dropout -> dense on the tanh pooler output.
  sentence, "cls_mlp" (RoBERTa: tanh, ELECTRA: GELU): the [CLS] state -> dropout -> dense H->H
                      -> activation -> dropout -> dense; these families have no trained pooler.
  token:  dropout -> dense on every position (all families).
  span:   dense H->2 on every position, no dropout (start and end logits, all families).
"""

import chex
import flax.linen as nn

from bertlab.encoder.common import activation, dense
from bertlab.encoder.config import EncoderConfig
from bertlab.encoder.dropout import Dropout

STYLES = ("pooled", "cls_mlp")
# family -> (sentence head style, activation between its two dense layers).
FAMILY_HEADS = {"bert": ("pooled", None), "albert": ("pooled", None),
                "spanbert": ("pooled", None), "roberta": ("cls_mlp", "tanh"),
                "electra": ("cls_mlp", "gelu")}


def family_head(family: str) -> tuple[str, str | None]:
  """(style, activation) of the sentence head `family`'s reference code uses."""
  if family not in FAMILY_HEADS:
    raise ValueError(f"family: expected one of {sorted(FAMILY_HEADS)}; found {family!r}.")
  return FAMILY_HEADS[family]


class SequenceClassifier(nn.Module):
  """Sentence(-pair) logits [B, C] (C = 1 for a regression) from the encoder's outputs."""

  config: EncoderConfig
  num_labels: int
  style: str = "pooled"
  activation: str | None = None
  dropout: float = 0.1

  @nn.compact
  def __call__(self, hidden_BxLxH, pooled_BxH, deterministic: bool = True):
    cfg = self.config
    drop = lambda x: Dropout(self.dropout)(x, deterministic=deterministic)
    if self.style == "pooled":
      if pooled_BxH is None:
        raise ValueError("SequenceClassifier(style='pooled') reads the pooled [CLS] state; "
                         "found none: build the encoder with use_pooler=True, or use "
                         "style='cls_mlp'.")
      x_BxH = drop(pooled_BxH)
    elif self.style == "cls_mlp":
      x_BxH = drop(hidden_BxLxH[:, 0])
      x_BxH = dense(cfg, cfg.hidden_size, ("embed", "mlp"), "dense")(x_BxH)
      x_BxH = drop(activation(self.activation or "tanh")(x_BxH))
    else:
      raise ValueError(f"SequenceClassifier.style: expected one of {STYLES}; "
                       f"found {self.style!r}.")
    in_axis = "mlp" if self.style == "cls_mlp" else "embed"
    logits_BxC = dense(cfg, self.num_labels, (in_axis, None), "out")(x_BxH)
    chex.assert_shape(logits_BxC, (hidden_BxLxH.shape[0], self.num_labels))
    return logits_BxC


class TokenClassifier(nn.Module):
  """Per-token logits [B, L, C] (NER tags)."""

  config: EncoderConfig
  num_labels: int
  dropout: float = 0.1

  @nn.compact
  def __call__(self, hidden_BxLxH, pooled_BxH=None, deterministic: bool = True):
    x_BxLxH = Dropout(self.dropout)(hidden_BxLxH, deterministic=deterministic)
    logits_BxLxC = dense(self.config, self.num_labels, ("embed", None), "out")(x_BxLxH)
    chex.assert_shape(logits_BxLxC, hidden_BxLxH.shape[:2] + (self.num_labels,))
    return logits_BxLxC


class SpanHead(nn.Module):
  """Start and end logits of an answer span, stacked as [B, L, 2] (HF's `qa_outputs`)."""

  config: EncoderConfig

  @nn.compact
  def __call__(self, hidden_BxLxH, pooled_BxH=None, deterministic: bool = True):
    logits_BxLx2 = dense(self.config, 2, ("embed", None), "out")(hidden_BxLxH)
    chex.assert_shape(logits_BxLx2, hidden_BxLxH.shape[:2] + (2,))
    return logits_BxLx2
