"""Encoder + task head + loss: the model fine-tuning trains.

`TaskModel.apply({"params": p}, batch, deterministic, rngs=...)` returns `(loss, metrics)`,
the contract of `bertlab.training.step.build`; `method=TaskModel.logits` gives the head's
logits for prediction. Params are `{"encoder": ..., "head": ...}`. Batch keys (int32 unless
noted), all [B, L] or [B]:
  input_ids, attention_mask, token_type_ids   every task
  label        [B]     classification: class id (-1: no loss); regression: float32 (nan: no loss)
  labels       [B, L]  token_classification: tag id, IGNORE_INDEX (-100) where not scored
  start_positions, end_positions  [B]  span: answer token positions
Losses are those of the Hugging Face classes (cross-entropy; mean squared error for one
output; the mean of start and end cross-entropies for spans, here over unpadded positions).
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import optax

from bertlab.encoder import Encoder, EncoderConfig
from bertlab.tasks.heads import SequenceClassifier, SpanHead, TokenClassifier

KINDS = ("classification", "regression", "token_classification", "span")
INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")
LABEL_KEYS = {"classification": ("label",), "regression": ("label",),
              "token_classification": ("labels",), "span": ("start_positions", "end_positions")}


def _masked_mean(x, w):
  # max(.., 1) so that a batch with nothing to score gives 0, not nan.
  return jnp.sum(x * w) / jnp.maximum(jnp.sum(w), 1.0)


def classification_loss(logits_BxC, batch):
  labels_B = batch["label"]
  w_B = (labels_B >= 0).astype(jnp.float32)
  safe_B = jnp.where(labels_B >= 0, labels_B, 0)
  ce_B = optax.softmax_cross_entropy_with_integer_labels(logits_BxC.astype(jnp.float32), safe_B)
  correct_B = (jnp.argmax(logits_BxC, -1) == labels_B).astype(jnp.float32)
  loss = _masked_mean(ce_B, w_B)
  return loss, {"loss": loss, "accuracy": _masked_mean(correct_B, w_B)}


def regression_loss(logits_Bx1, batch):
  labels_B = batch["label"].astype(jnp.float32)
  w_B = jnp.isfinite(labels_B).astype(jnp.float32)
  err_B = logits_Bx1[:, 0].astype(jnp.float32) - jnp.where(w_B > 0, labels_B, 0.0)
  loss = _masked_mean(err_B ** 2, w_B)
  return loss, {"loss": loss}


def token_classification_loss(logits_BxLxC, batch):
  labels_BxL = batch["labels"]
  w_BxL = (labels_BxL >= 0).astype(jnp.float32)  # IGNORE_INDEX is negative
  safe_BxL = jnp.where(labels_BxL >= 0, labels_BxL, 0)
  ce_BxL = optax.softmax_cross_entropy_with_integer_labels(
      logits_BxLxC.astype(jnp.float32), safe_BxL)
  correct_BxL = (jnp.argmax(logits_BxLxC, -1) == labels_BxL).astype(jnp.float32)
  loss = _masked_mean(ce_BxL, w_BxL)
  return loss, {"loss": loss, "token_accuracy": _masked_mean(correct_BxL, w_BxL)}


def span_loss(logits_BxLx2, batch):
  # Padding is never an answer: it is left out of the softmax (HF keeps it in, which makes
  # the loss depend on what the encoder computes at padded positions).
  real_BxLx1 = batch["attention_mask"][..., None] > 0
  logits_BxLx2 = jnp.where(real_BxLx1, logits_BxLx2.astype(jnp.float32), -1e9)
  ce = lambda logits_BxL, pos_B: jnp.mean(
      optax.softmax_cross_entropy_with_integer_labels(logits_BxL, pos_B))
  start = ce(logits_BxLx2[..., 0], batch["start_positions"])
  end = ce(logits_BxLx2[..., 1], batch["end_positions"])
  loss = (start + end) / 2
  exact_B = ((jnp.argmax(logits_BxLx2[..., 0], -1) == batch["start_positions"])
             & (jnp.argmax(logits_BxLx2[..., 1], -1) == batch["end_positions"]))
  return loss, {"loss": loss, "span_accuracy": jnp.mean(exact_B.astype(jnp.float32))}


LOSSES = {"classification": classification_loss, "regression": regression_loss,
          "token_classification": token_classification_loss, "span": span_loss}


def make_head(model: TaskModel) -> nn.Module:
  """The head module of `model`'s kind (a plain function, so that it can also build the
  head alone, outside the model, e.g. for its param shapes)."""
  if model.kind not in KINDS:
    raise ValueError(f"TaskModel.kind: expected one of {KINDS}; found {model.kind!r}.")
  if model.kind in ("classification", "regression"):
    return SequenceClassifier(model.config, model.num_labels, model.head_style,
                              model.head_activation, model.classifier_dropout)
  if model.kind == "token_classification":
    return TokenClassifier(model.config, model.num_labels, model.classifier_dropout)
  return SpanHead(model.config)


class TaskModel(nn.Module):
  """The encoder with one task head.

  kind: one of KINDS. num_labels: classes (1 for a regression; ignored for spans).
  head_style / head_activation: the sentence head (`heads.FAMILY_HEADS`); the encoder must
  have a pooler for style 'pooled'. classifier_dropout: dropout inside the head.
  """

  config: EncoderConfig
  kind: str
  num_labels: int = 2
  head_style: str = "pooled"
  head_activation: str | None = None
  classifier_dropout: float = 0.1

  def setup(self):
    self.encoder = Encoder(self.config)
    self.head = make_head(self)

  def logits(self, input_ids, attention_mask=None, token_type_ids=None,
             deterministic: bool = True, position_ids=None, segment_ids=None):
    """[B, C] (sentence), [B, L, C] (token) or [B, L, 2] (span: start, end) float logits.
    position_ids (from 0 in each sentence), segment_ids: rows packed with several sentences
    (`packed_batches`; per-token heads only)."""
    if position_ids is not None:
      position_ids = position_ids + self.config.position_offset
    hidden_BxLxH, pooled_BxH = self.encoder(input_ids, attention_mask, token_type_ids,
                                            deterministic=deterministic,
                                            position_ids=position_ids, segment_ids=segment_ids)
    return self.head(hidden_BxLxH, pooled_BxH, deterministic=deterministic)

  def __call__(self, batch, deterministic: bool = True):
    missing = [k for k in INPUT_KEYS + LABEL_KEYS[self.kind] if k not in batch]
    if missing:
      raise KeyError(f"TaskModel({self.kind!r}) needs batch keys {missing}; found "
                     f"{sorted(batch)}.")
    if "segment_ids" in batch and self.kind != "token_classification":
      raise ValueError(f"TaskModel({self.kind!r}): packed rows (segment_ids) are for "
                       "token_classification only; a sentence head reads one [CLS] per row.")
    logits = self.logits(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"],
                         deterministic, batch.get("position_ids"), batch.get("segment_ids"))
    return LOSSES[self.kind](logits, batch)


def predict_fn(model: TaskModel):
  """(params, batch) -> logits, deterministic; jit it with the caller's shardings. A batch
  with position_ids and segment_ids holds packed rows (`packed_batches`)."""
  def predict(params, batch):
    return model.apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                       batch["token_type_ids"], True, batch.get("position_ids"),
                       batch.get("segment_ids"), method=TaskModel.logits)
  return predict

