"""Packed token-classification rows: every sentence kept whole in one row, and the model's
loss and per-token logits equal those of the same sentences one per padded row."""

import jax
import numpy as np
import pytest

from bertlab.encoder import EncoderConfig
from bertlab.tasks.finetune_data import Split, model_batch
from bertlab.tasks.models import TaskModel, predict_fn
from bertlab.tasks.packed_batches import (eval_plan, first_fit, packed_batch, place, rows_needed,
                                         unpack_logits)


def _inputs(lengths, width=64, seed=0):
  rng = np.random.default_rng(seed)
  mask = np.zeros((len(lengths), width), np.int32)
  for i, n in enumerate(lengths):
    mask[i, :n] = 1
  labels = np.where(mask == 1, rng.integers(0, 5, mask.shape), -100).astype(np.int32)
  labels[:, 0] = -100  # [CLS] is not scored
  return {"input_ids": (mask * rng.integers(5, 90, mask.shape)).astype(np.int32),
          "attention_mask": mask, "token_type_ids": np.zeros_like(mask), "labels": labels}


def test_first_fit_places_longest_first_in_the_first_row_with_room():
  row, offset, rows = first_fit(np.array([5, 40, 17, 3]), 64)
  # 40 -> row 0 at 0; 17 -> row 0 at 40; 5 -> row 0 at 57; 3 (62 + 3 > 64) -> row 1 at 0.
  assert rows == 2 and row.tolist() == [0, 0, 0, 1] and offset.tolist() == [57, 0, 40, 0]
  assert rows_needed(np.array([[5, 40, 17, 3], [64, 64, 1, 1]]), 64).tolist() == [2, 3]
  with pytest.raises(ValueError, match="does not fit a row of 32"):
    first_fit(np.array([33]), 32)


def test_packed_rows_hold_each_sentence_whole():
  inputs = _inputs([5, 40, 17, 3])
  b = packed_batch(inputs, np.array([3, 1, 2]), 64, num_rows=2)
  assert {k: v.shape for k, v in b.items()} == {k: (2, 64) for k in b}
  # Sentences 1 (40), 2 (17), 3 (3) fill row 0, numbered in batch order (3, 1, 2 -> 1, 2, 3).
  assert b["segment_ids"][0, [0, 39, 40, 56, 57, 59, 60]].tolist() == [2, 2, 3, 3, 1, 1, 0]
  assert b["position_ids"][0, [0, 39, 40, 56, 57]].tolist() == [0, 39, 0, 16, 0]
  np.testing.assert_array_equal(b["input_ids"][0, 40:57], inputs["input_ids"][2, :17])
  np.testing.assert_array_equal(b["labels"][0, 57:60], inputs["labels"][3, :3])
  assert b["attention_mask"].sum() == 60 and (b["labels"][1] == -100).all()
  with pytest.raises(ValueError, match="need 2 rows of 64; found room for 1"):
    packed_batch(inputs, np.array([0, 1, 2, 3]), 64, num_rows=1)


def test_packed_loss_and_logits_equal_padded_ones():
  cfg = EncoderConfig(vocab_size=100, hidden_size=32, num_layers=2, num_heads=2,
                      intermediate_size=64, max_position_embeddings=64, hidden_dropout=0.0,
                      attention_dropout=0.0, use_pooler=False)
  model = TaskModel(cfg, "token_classification", num_labels=5, classifier_dropout=0.0)
  lengths = [12, 30, 7, 19, 3, 25]
  inputs = _inputs(lengths)
  split = Split(inputs, [None] * len(lengths))
  index = np.arange(len(lengths))
  padded = model_batch(split, index, "token_classification", length=32)
  packed = packed_batch(inputs, index, 64, num_rows=2)
  params = jax.jit(model.init)(jax.random.key(0), padded)["params"]
  loss = jax.jit(lambda b: model.apply({"params": params}, b))
  (loss_padded, m_padded), (loss_packed, m_packed) = loss(padded), loss(packed)
  np.testing.assert_allclose(loss_packed, loss_padded, rtol=1e-5)
  np.testing.assert_allclose(m_packed["token_accuracy"], m_padded["token_accuracy"])
  logits = jax.jit(lambda b: model.apply(
      {"params": params}, b["input_ids"], b["attention_mask"], b["token_type_ids"], True,
      b.get("position_ids"), b.get("segment_ids"), method=TaskModel.logits))
  logits_padded, logits_packed = logits(padded), logits(packed)
  row, offset, _ = first_fit(np.array(lengths), 64)
  for i, n in enumerate(lengths):  # every real token's logits, wherever its row put it
    np.testing.assert_allclose(logits_packed[row[i], offset[i]:offset[i] + n],
                               logits_padded[i, :n], atol=1e-5)


def test_packed_evaluation_plan_covers_every_sentence_once_and_unpacks_its_logits():
  cfg = EncoderConfig(vocab_size=100, hidden_size=32, num_layers=1, num_heads=2,
                      intermediate_size=64, max_position_embeddings=64, hidden_dropout=0.0,
                      attention_dropout=0.0, use_pooler=False)
  model = TaskModel(cfg, "token_classification", num_labels=5, classifier_dropout=0.0)
  lengths = np.array([12, 30, 7, 19, 3, 25, 40, 9, 33, 2, 64])
  inputs = _inputs(lengths)
  split = Split(inputs, [None] * len(lengths))
  rows, plan = eval_plan(lengths, 64, max_rows=3)
  # First fit of all 11 sentences (244 tokens) fills 4 rows of 64: two calls of 2 rows.
  assert rows == 2 and [sorted(set(r.tolist())) for _, r, _ in plan] == [[0, 1], [0, 1]]
  assert eval_plan(lengths, 64, max_rows=8, multiple=8)[0] == 8  # data-parallel devices
  assert eval_plan(lengths, 64, max_rows=8, multiple=2)[0] == 4
  assert sorted(np.concatenate([i for i, _, _ in plan]).tolist()) == list(range(len(lengths)))
  padded = model_batch(split, np.arange(len(lengths)), "token_classification", length=64)
  params = jax.jit(model.init)(jax.random.key(0), padded)["params"]
  predict = jax.jit(predict_fn(model))
  want = np.asarray(predict(params, padded))
  keys = ("input_ids", "attention_mask", "token_type_ids")
  for index_B, row_B, offset_B in plan:
    batch = place({k: inputs[k] for k in keys}, index_B, row_B, offset_B, 64, num_rows=2)
    assert set(batch) == set(keys) | {"position_ids", "segment_ids"}
    got = unpack_logits(np.asarray(predict(params, batch)), lengths[index_B], row_B, offset_B,
                        width=64)
    for b, i in enumerate(index_B):
      n = lengths[i]
      np.testing.assert_allclose(got[b, :n], want[i, :n], atol=1e-5)
      assert (got[b, n:] == -1e4).all()
