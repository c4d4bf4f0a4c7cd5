"""One pretraining model per family, each an assembly of the shared encoder and heads.

Every model is called as `model.apply({"params": p}, batch, deterministic, rngs=...)` and
returns `(loss, metrics)`. Batch keys (all int32 unless noted):
  input_ids, attention_mask, token_type_ids        [B, L]  (input_ids already masked)
  mlm_positions, mlm_ids, mlm_weights (float32)    [B, P]  P = max_predictions_per_seq
  nsp_label (BERT) / sop_label (ALBERT)            [B]
  sbo_left, sbo_right, sbo_rel, sbo_weights (f32)  [B, P]  (SpanBERT; see masking_span.py)
ELECTRA (electra.py) reads the same MLM keys and needs a "sampling" RNG.
Packed rows (`bertlab.data.packing`) add, and every model reads:
  segment_ids, positions                           [B, L]  example 1..S (0 = pad), position in it
  cls_positions, sentence_weights (f32)            [B, S]  each example's [CLS]; 0 = empty slot
  nsp_label / sop_label                            [B, S]  one label per packed example
"""

from __future__ import annotations

import chex
import flax.linen as nn
import jax.numpy as jnp

from bertlab.encoder import Encoder, EncoderConfig
from bertlab.objectives import losses
from bertlab.objectives.heads import MlmHead, PairClassifier, SpanBoundaryHead, gather_positions


class MaskedLmModel(nn.Module):
  """Encoder + MLM head, with an optional sentence-pair task (NSP/SOP) or SBO head."""

  config: EncoderConfig
  pair_task: str | None = None  # "nsp" | "sop" | None
  span_boundary: bool = False
  sbo_max_targets: int = 15
  sbo_position_dim: int = 200

  def setup(self):
    cfg = self.config
    if self.pair_task and not cfg.use_pooler:
      raise ValueError(f"pair_task={self.pair_task!r} reads the pooled [CLS] state; "
                       "set EncoderConfig.use_pooler=True")
    self.encoder = Encoder(cfg)
    self.mlm = MlmHead(cfg, out_dim=cfg.embed_dim)
    self.pair = PairClassifier(cfg) if self.pair_task else None
    self.sbo = (SpanBoundaryHead(cfg, self.sbo_max_targets, self.sbo_position_dim)
                if self.span_boundary else None)

  def logits(self, input_ids, attention_mask=None, token_type_ids=None, mlm_positions=None,
             deterministic=True, packed=None):
    """MLM logits at `mlm_positions` [B, P, V] (all positions when None), pair logits [B, 2]
    ([B, S, 2] for packed rows; `packed` = `packed_inputs(batch, config)`)."""
    hidden_BxLxH, pooled_BxH = self.encoder(input_ids, attention_mask, token_type_ids,
                                            deterministic=deterministic, **(packed or {}))
    x = hidden_BxLxH if mlm_positions is None else gather_positions(hidden_BxLxH, mlm_positions)
    out = {"mlm": self.mlm(x, self.encoder.attend), "hidden": hidden_BxLxH}
    if self.pair is not None:
      out["pair"] = self.pair(pooled_BxH, deterministic)
    return out

  def __call__(self, batch, deterministic: bool = True):
    b, p = batch["mlm_positions"].shape
    chex.assert_shape(batch["input_ids"], (b, None))
    out = self.logits(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"),
                      batch["mlm_positions"], deterministic, packed_inputs(batch, self.config))
    loss, mlm_m = losses.masked_lm(out["mlm"], batch["mlm_ids"], batch["mlm_weights"])
    metrics = {f"mlm_{k}": v for k, v in mlm_m.items()}
    if self.pair is not None:
      key = f"{self.pair_task}_label"
      if key not in batch:
        raise KeyError(f"{type(self).__name__} needs batch[{key!r}] ({self.pair_task.upper()} "
                       f"labels); found keys {sorted(batch)}")
      pair_loss, pair_m = losses.sentence_pair(out["pair"], batch[key],
                                               batch.get("sentence_weights"))
      loss = loss + pair_loss
      metrics.update({f"{self.pair_task}_{k}": v for k, v in pair_m.items()})
    if self.sbo is not None:
      # SpanBERT: loss = MLM / n_tokens + SBO / n_pairs. The masking marks which slots are
      # pairs (boundaries inside the sequence, first max_targets tokens of a span).
      w = batch["sbo_weights"] * (batch["sbo_rel"] < self.sbo_max_targets)
      sbo_logits = self.sbo(out["hidden"], batch["sbo_left"], batch["sbo_right"],
                            batch["sbo_rel"], self.encoder.attend)
      sbo_loss, sbo_m = losses.masked_lm(sbo_logits, batch["mlm_ids"], w)
      loss = loss + sbo_loss
      metrics.update({f"sbo_{k}": v for k, v in sbo_m.items()})
    metrics["loss"] = loss
    return loss, metrics


def packed_inputs(batch: dict, config: EncoderConfig) -> dict:
  """The Encoder's packing arguments from a batch ({} for ordinary padded rows)."""
  if "segment_ids" not in batch:
    return {}
  # Positions restart at 0 in each packed example; RoBERTa's table starts at position_offset.
  out = {"segment_ids": batch["segment_ids"],
         "position_ids": batch["positions"] + config.position_offset}
  if "cls_positions" in batch and config.use_pooler:
    out["cls_positions"] = batch["cls_positions"]
  return out


class BertForPretraining(MaskedLmModel):
  """BERT: MLM + next-sentence prediction (Devlin et al. 2019)."""
  pair_task: str | None = "nsp"


class AlbertForPretraining(MaskedLmModel):
  """ALBERT: MLM (n-gram masking happens in the data) + sentence-order prediction."""
  pair_task: str | None = "sop"


class RobertaForPretraining(MaskedLmModel):
  """RoBERTa: MLM only; dynamic masking and full-sentence packing happen in the data."""
  pair_task: str | None = None


class SpanBertForPretraining(MaskedLmModel):
  """SpanBERT: MLM over geometric spans + span boundary objective; no NSP."""
  pair_task: str | None = None
  span_boundary: bool = True


def zeros_like_batch(batch_size: int, seq_len: int, max_predictions: int) -> dict:
  """A dummy batch with every key any model reads (for init and shape inference)."""
  z = lambda *s: jnp.zeros(s, jnp.int32)
  return {
      "input_ids": z(batch_size, seq_len), "attention_mask": jnp.ones((batch_size, seq_len),
                                                                        jnp.int32),
      "token_type_ids": z(batch_size, seq_len), "mlm_positions": z(batch_size, max_predictions),
      "mlm_ids": z(batch_size, max_predictions),
      "mlm_weights": jnp.zeros((batch_size, max_predictions), jnp.float32),
      "nsp_label": z(batch_size), "sop_label": z(batch_size),
      "sbo_left": z(batch_size, max_predictions), "sbo_right": z(batch_size, max_predictions),
      "sbo_rel": z(batch_size, max_predictions),
      "sbo_weights": jnp.zeros((batch_size, max_predictions), jnp.float32),
  }
