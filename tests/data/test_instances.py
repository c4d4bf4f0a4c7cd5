"""Instance builders: layout invariants, label semantics and balance, coverage, determinism.

The cache's token ids are 100 + position in the corpus, so every token says where it came from.
"""

import numpy as np
import pytest
from datahelpers import make_cache, random_docs

from bertlab.data.instance_pairs import truncation_counts
from bertlab.data.instances import build_instances

PAD, CLS, SEP = 1, 2, 3
L = 64


def _build(cache, family, seed=0, max_seq_len=L, **kw):
  return build_instances(cache, family, max_seq_len=max_seq_len, seed=seed, pad_id=PAD,
                         cls_id=CLS, sep_id=SEP, **kw)


def _doc_of(cache, ids):
  starts = cache.sentence_offsets[cache.doc_offsets[:-1]]
  return np.searchsorted(starts, np.asarray(ids) - 100, side="right") - 1


def _segments(row):
  """The runs of corpus tokens between specials, as arrays."""
  segs, cur = [], []
  for t in row:
    if t in (CLS, SEP, PAD):
      if cur:
        segs.append(np.array(cur))
      cur = []
    else:
      cur.append(t)
  return segs


def _check_layout(out, cache, n_seps):
  ids, n = out["input_ids"], len(out["input_ids"])
  assert all(v.shape[0] == n for v in out.values()) and ids.shape == (n, L)
  assert ids.dtype == out["token_type_ids"].dtype == out["attention_mask"].dtype == np.int32
  lengths = out["attention_mask"].sum(1)
  for r in range(n):
    row, k = ids[r], lengths[r]
    assert (out["attention_mask"][r, :k] == 1).all() and (row[k:] == PAD).all()
    assert row[0] == CLS and row[k - 1] == SEP
    seps = np.flatnonzero(row[:k] == SEP)
    assert len(seps) in n_seps
    special = np.isin(row, (CLS, SEP)) | (np.arange(L) >= k)
    np.testing.assert_array_equal(out["special_mask"][r], special)
    assert not out["word_starts"][r][special].any()
    for seg in _segments(row[:k]):
      np.testing.assert_array_equal(np.diff(seg), 1)  # a contiguous run of the corpus
      pos = np.flatnonzero(row == seg[0])[0]
      assert out["word_starts"][r, pos]
      np.testing.assert_array_equal(out["word_starts"][r, pos + 1:pos + len(seg)],
                                    cache.word_starts[seg[1:] - 100])
  return lengths


def _check_pair_types(out, r):
  row, k = out["input_ids"][r], out["attention_mask"][r].sum()
  first_sep = np.flatnonzero(row == SEP)[0]
  types = out["token_type_ids"][r]
  assert (types[:first_sep + 1] == 0).all() and (types[first_sep + 1:k] == 1).all()
  assert (types[k:] == 0).all()


def test_bert_nsp_pairs():
  cache = make_cache(random_docs(0, 2200))
  out = _build(cache, "bert")
  n = len(out["nsp_label"])
  assert n > 10_000
  _check_layout(out, cache, n_seps=(2,))
  assert abs(out["nsp_label"].mean() - 0.5) < 0.03
  short = (out["attention_mask"].sum(1) < L * 0.6).mean()
  assert 0.05 < short < 0.3  # short_seq_prob=0.1 of documents target a shorter length
  for r in range(0, n, 37):
    _check_pair_types(out, r)
    a, b = _segments(out["input_ids"][r])
    same_doc = _doc_of(cache, [a[0]])[0] == _doc_of(cache, [b[0]])[0]
    if out["nsp_label"][r] == 0:
      assert same_doc and b[0] > a[-1]
    else:
      assert not same_doc


def test_albert_sop_pairs():
  cache = make_cache(random_docs(1, 2900))
  out = _build(cache, "albert")
  assert len(out["sop_label"]) > 10_000
  _check_layout(out, cache, n_seps=(2,))
  assert abs(out["sop_label"].mean() - 0.5) < 0.03
  for r in range(0, len(out["sop_label"]), 29):
    _check_pair_types(out, r)
    a, b = _segments(out["input_ids"][r])
    assert _doc_of(cache, [a[0]])[0] == _doc_of(cache, [b[-1]])[0]
    assert (b[0] > a[-1]) == (out["sop_label"][r] == 0)


def test_single_sentence_documents():
  cache = make_cache([[30], [1], [50], [2]])
  for family in ("bert", "albert", "electra", "roberta", "spanbert"):
    out = _build(cache, family, max_seq_len=16)
    assert len(out["input_ids"]) >= 1, family


def test_electra_pairs_from_one_document():
  cache = make_cache(random_docs(2, 1500))
  out = _build(cache, "electra")
  assert set(out) == {"input_ids", "token_type_ids", "attention_mask", "word_starts",
                      "special_mask"}
  lengths = _check_layout(out, cache, n_seps=(1, 2))
  n_seps = (out["input_ids"] == SEP).sum(1)
  single = (n_seps == 1).mean()
  assert 0.05 < single < 0.25  # 10 % by coin, plus segments too long to leave room for B
  assert (lengths == L).mean() > 0.5  # most examples fill the sequence
  for r in np.flatnonzero(n_seps == 2)[::23]:
    _check_pair_types(out, r)
    a, b = _segments(out["input_ids"][r])
    assert b[0] == a[-1] + 1 or _doc_of(cache, [a[0]])[0] == _doc_of(cache, [b[0]])[0]
    assert b[0] > a[-1]


@pytest.mark.parametrize("family, packing", [("roberta", "full"), ("roberta", "doc"),
                                             ("spanbert", "full")])
def test_packing_covers_every_token_once_in_order(family, packing):
  docs = random_docs(3, 300, length=(1, 12))
  docs[7] = [150]  # a sentence longer than a whole sequence: cut into pieces
  cache = make_cache(docs)
  out = _build(cache, family, roberta_packing=packing)
  lengths = _check_layout(out, cache, n_seps=range(1, 50))
  assert (out["token_type_ids"] == 0).all()
  tokens = out["input_ids"][~out["special_mask"]]
  np.testing.assert_array_equal(tokens, cache.ids)  # nothing lost, nothing repeated
  n_docs = [len(set(_doc_of(cache, row[~m])))
            for row, m in zip(out["input_ids"], out["special_mask"], strict=True)]
  n_seps = (out["input_ids"] == SEP).sum(1)
  if family == "roberta" and packing == "full":
    # Documents continue in the same sequence after an extra separator; sequences are full.
    np.testing.assert_array_equal(n_seps, np.array(n_docs))
    assert max(n_docs) > 1 and lengths.mean() > 0.9 * L
  else:  # one document per sequence, no separator inside
    assert max(n_docs) == 1 and (n_seps == 1).all()


def test_deterministic_given_seed():
  cache = make_cache(random_docs(4, 200))
  for family in ("bert", "albert", "electra"):
    a, b, c = _build(cache, family, seed=5), _build(cache, family, seed=5), _build(cache, family,
                                                                                 seed=6)
    for k in a:
      np.testing.assert_array_equal(a[k], b[k])
    assert a["input_ids"].shape != c["input_ids"].shape or (a["input_ids"] != c["input_ids"]).any()


def test_dupe_factor_multiplies_examples():
  cache = make_cache(random_docs(5, 100))
  one, three = _build(cache, "bert"), _build(cache, "bert", dupe_factor=3)
  assert 2.5 < len(three["input_ids"]) / len(one["input_ids"]) < 3.5


def test_truncation_counts_match_reference_loop():
  def reference(la, lb, m):
    ka = kb = 0
    while la + lb > m:
      if la > lb:
        la, ka = la - 1, ka + 1
      else:
        lb, kb = lb - 1, kb + 1
    return ka, kb

  for la in range(0, 20):
    for lb in range(1, 20):
      for m in range(1, 30):
        assert truncation_counts(la, lb, m) == reference(la, lb, m), (la, lb, m)


def test_bad_arguments():
  cache = make_cache(random_docs(6, 5))
  with pytest.raises(ValueError, match="family"):
    _build(cache, "gpt")
  with pytest.raises(ValueError, match="roberta_packing"):
    _build(cache, "roberta", roberta_packing="docs")


def test_streaming_to_disk_equals_in_memory(tmp_path):
  cache = make_cache(random_docs(7, 700))
  mem = _build(cache, "albert", max_seq_len=32)
  assert len(mem["input_ids"]) > 4096  # more than one block
  disk = _build(cache, "albert", max_seq_len=32, out_dir=str(tmp_path))
  assert sorted(disk) == sorted(mem) and isinstance(disk["input_ids"], np.memmap)
  for k in mem:
    assert disk[k].dtype == mem[k].dtype
    np.testing.assert_array_equal(disk[k], mem[k])
