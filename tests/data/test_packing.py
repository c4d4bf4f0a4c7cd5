"""Sequence packing in the pipeline: every example once, offsets right, rows full, exact resume."""

import json

import numpy as np
import pytest

from bertlab.data import packing
from bertlab.data.pipeline import make_iterator

L, P = 32, 5
CLS, SEP = 2, 3


def _instances(n=60, seed=0):
  """Examples of lengths 4..20: [CLS] i-coded body [SEP]; static masks on some body tokens.

  Body token j of example i is 1000 * (i + 1) + j, so a token names its example."""
  rng = np.random.default_rng(seed)
  arrays = {k: np.zeros((n, L), np.int32) for k in ("input_ids", "token_type_ids",
                                                    "attention_mask")}
  pred = {k: np.zeros((n, P), np.int32) for k in ("mlm_positions", "mlm_ids", "sbo_left",
                                                  "sbo_right", "sbo_rel")}
  weights = np.zeros((n, P), np.float32)
  for i in range(n):
    length = int(rng.integers(4, 21))
    arrays["input_ids"][i, :length] = [CLS] + [1000 * (i + 1) + j for j in range(1, length - 1)
                                               ] + [SEP]
    arrays["token_type_ids"][i, length // 2:length] = 1
    arrays["attention_mask"][i, :length] = 1
    k = int(rng.integers(1, min(P, length - 2) + 1))
    pos = np.sort(rng.choice(np.arange(1, length - 1), k, replace=False))
    pred["mlm_positions"][i, :k] = pos
    pred["mlm_ids"][i, :k] = arrays["input_ids"][i, pos]   # the original (unmasked) token
    pred["sbo_left"][i, :k], pred["sbo_right"][i, :k] = pos - 1, pos + 1
    pred["sbo_rel"][i, :k] = np.arange(k)
    weights[i, :k] = 1
  return dict(arrays, **pred, mlm_weights=weights, sbo_weights=weights.copy(),
              nsp_label=(np.arange(n) % 2).astype(np.int32))


SPEC = packing.PackingSpec(max_seq_len=L, max_predictions=2 * P, max_examples=4, bins=8)


def _rows(batches):
  for b in batches:
    for r in range(len(b["input_ids"])):
      yield {k: v[r] for k, v in b.items()}


def _example_of(token):
  return int(token) // 1000 - 1


def test_packed_rows_hold_every_example_once_with_row_offsets():
  inst = _instances()
  it = make_iterator(inst, global_batch_size=4, seed=0, num_epochs=1, process_index=0,
                     process_count=1, packing=SPEC, drop_remainder=False)
  seen = []
  for row in _rows(it):
    seg, ids = row["segment_ids"], row["input_ids"]
    assert row["attention_mask"].tolist() == (seg > 0).astype(int).tolist()
    for s in range(1, seg.max() + 1):
      where = np.flatnonzero(seg == s)
      assert (np.diff(where) == 1).all()                       # contiguous
      i = _example_of(ids[where[1]])
      n = int(inst["attention_mask"][i].sum())
      np.testing.assert_array_equal(ids[where], inst["input_ids"][i, :n])
      np.testing.assert_array_equal(row["token_type_ids"][where], inst["token_type_ids"][i, :n])
      np.testing.assert_array_equal(row["positions"][where], np.arange(n))
      seen.append(i)
    # Each prediction slot points at its token in the row, SBO boundaries beside it.
    real = row["mlm_weights"] > 0
    np.testing.assert_array_equal(ids[row["mlm_positions"][real]], row["mlm_ids"][real])
    np.testing.assert_array_equal(row["sbo_left"][real], row["mlm_positions"][real] - 1)
    np.testing.assert_array_equal(row["sbo_right"][real], row["mlm_positions"][real] + 1)
    # One [CLS] and one label per example.
    w = row["sentence_weights"] > 0
    assert w.sum() == seg.max()
    assert (ids[row["cls_positions"][w]] == CLS).all()
    labels = [_example_of(ids[c + 1]) % 2 for c in row["cls_positions"][w]]
    assert row["nsp_label"][w].tolist() == labels
  assert sorted(seen) == list(range(60))
  assert sum(int(r["mlm_weights"].sum()) for r in _rows(make_iterator(
      inst, global_batch_size=4, seed=0, num_epochs=1, process_index=0, process_count=1,
      packing=SPEC, drop_remainder=False))) == int(inst["mlm_weights"].sum())


def test_packing_fills_rows():
  inst = _instances(200)
  it = make_iterator(inst, global_batch_size=8, seed=0, num_epochs=1, process_index=0,
                     process_count=1, packing=SPEC)
  fill = np.mean([b["attention_mask"].mean() for b in it])
  unpacked = inst["attention_mask"].mean()
  assert unpacked < 0.45 and fill > 0.85, (unpacked, fill)


def test_packed_iterator_resumes_exactly():
  kw = dict(global_batch_size=4, seed=5, process_index=0, process_count=1, packing=SPEC)
  it = make_iterator(_instances(), **kw)
  for _ in range(11):  # past one epoch
    next(it)
  state = json.loads(json.dumps(it.get_state()))
  expected = [next(it) for _ in range(6)]
  again = make_iterator(_instances(), **kw)
  again.set_state(state)
  for a, b in zip([next(again) for _ in range(6)], expected, strict=True):
    assert a.keys() == b.keys()
    for k in a:
      np.testing.assert_array_equal(a[k], b[k])


def test_hosts_pack_disjoint_examples():
  ids = []
  for host in range(2):
    it = make_iterator(_instances(), global_batch_size=4, seed=1, num_epochs=1,
                       process_index=host, process_count=2, packing=SPEC, drop_remainder=False)
    ids.append({_example_of(r["input_ids"][c + 1]) for r in _rows(it)
                for c in r["cls_positions"][r["sentence_weights"] > 0]})
  assert not ids[0] & ids[1]
  assert ids[0] | ids[1] == set(range(60))


def test_bad_packing_specs_are_clear_errors():
  with pytest.raises(ValueError, match="max_examples"):
    packing.PackingSpec(max_seq_len=32, max_predictions=5, max_examples=0)
  with pytest.raises(ValueError, match="without tokens"):
    packing.trim({"input_ids": np.zeros(4, np.int32), "attention_mask": np.zeros(4, np.int32),
                  "mlm_weights": np.zeros(2, np.float32)})
