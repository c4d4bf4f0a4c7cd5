"""Padded lengths for fine-tuning batches: chosen from the batches' own maxima, trading padded
work against compiles; every batch fits its length and no real token is cut."""

import numpy as np
import pytest

from bertlab.tasks.finetune_data import Split, model_batch
from bertlab.tasks.length_buckets import assign, choose_lengths


def test_lengths_trade_padding_against_compiles():
  longest = np.array([50] * 100 + [65] * 3)  # CoNLL-like: most batches ~50, a few longer
  # Two lengths: 100 x 56 + 3 x 72 + 2 x 10 x 72 = 7256 < one length: 103 x 72 + 720 = 8136.
  assert choose_lengths(longest, 128) == (56, 72)
  # Compiles priced at 100 steps: one length (72) is cheaper.
  assert choose_lengths(longest, 128, compile_steps=100) == (72,)
  # Free compiles: every multiple of 8 that occurs.
  assert choose_lengths(np.array([3, 9, 17, 17, 40]), 128, compile_steps=0) == (8, 16, 24, 40)
  # Never longer than the limit, which then holds the longest batch.
  assert choose_lengths(np.array([10, 61]), 64, multiple=16) == (64,)
  lengths = assign(longest, (56, 72))
  assert lengths.tolist() == [56] * 100 + [72] * 3
  with pytest.raises(ValueError, match="longer than every length"):
    assign(np.array([80]), (56, 72))
  with pytest.raises(ValueError, match="exceeds the limit 64"):
    choose_lengths(np.array([65]), 64)


def test_model_batch_cuts_to_a_given_length_never_into_real_tokens():
  mask = np.zeros((3, 64), np.int32)
  for i, n in enumerate([5, 40, 17]):
    mask[i, :n] = 1
  split = Split({"input_ids": mask * 7, "token_type_ids": mask * 0, "attention_mask": mask,
                 "labels": np.where(mask == 1, 1, -100)}, [None] * 3)
  b = model_batch(split, np.array([0, 2]), "token_classification", length=24)
  assert {k: v.shape for k, v in b.items()} == {k: (2, 24) for k in b}
  assert b["attention_mask"].sum() == 22 and (b["labels"] == 1).sum() == 22
  with pytest.raises(ValueError, match="at least the batch's longest row, 40"):
    model_batch(split, np.array([1]), "token_classification", length=32)
