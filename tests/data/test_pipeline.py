"""The grain pipeline (exact resume, host sharding, per-example rng) and the one-call entry."""

import json

import numpy as np
import pytest
from datahelpers import corpus_text

from bertlab.data import pipeline, tokenizer_training
from bertlab.data.pipeline import build_pretraining_data, make_iterator


def _arrays(n=100, length=8):
  ids = np.arange(n * length, dtype=np.int32).reshape(n, length)
  return dict(input_ids=ids, example_id=np.arange(n, dtype=np.int32),
              nsp_label=(np.arange(n) % 2).astype(np.int32))


def _noise(example, rng):
  """A stand-in for dynamic masking: random positions replaced by random ids."""
  ex = dict(example)
  ids = ex["input_ids"].copy()
  pos = rng.random(ids.shape) < 0.3
  ids[pos] = rng.integers(10_000, 20_000, size=int(pos.sum()))
  ex["input_ids"] = ids
  return ex


def _take(it, n):
  return [next(it) for _ in range(n)]


def _assert_same(batches_a, batches_b):
  assert len(batches_a) == len(batches_b)
  for a, b in zip(batches_a, batches_b, strict=True):
    assert a.keys() == b.keys()
    for k in a:
      np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("map_fn", [None, _noise])
def test_restored_iterator_continues_with_the_next_batch(map_fn):
  kw = dict(global_batch_size=6, seed=3, process_index=0, process_count=1, map_fn=map_fn)
  it = make_iterator(_arrays(40), **kw)
  _take(it, 9)  # past the first epoch (40 / 6 = 6.7 batches), state mid-epoch
  state = json.loads(json.dumps(it.get_state()))  # JSON-serialisable
  expected = _take(it, 12)
  restored = make_iterator(_arrays(40), **kw)
  restored.set_state(state)
  _assert_same(_take(restored, 12), expected)
  assert "_index" not in expected[0] and expected[0]["input_ids"].shape == (6, 8)


def test_two_hosts_see_disjoint_data_covering_each_epoch():
  arrays = _arrays(100)
  per_host = {}
  for host in (0, 1):
    it = make_iterator(arrays, global_batch_size=10, seed=7, process_index=host,
                       process_count=2, num_epochs=2)
    batches = list(it)
    assert len(batches) == 2 * 100 // 10 and all(len(b["example_id"]) == 5 for b in batches)
    per_host[host] = [np.concatenate([b["example_id"] for b in batches[e * 10:(e + 1) * 10]])
                      for e in (0, 1)]
  for e in (0, 1):
    a, b = per_host[0][e], per_host[1][e]
    assert not set(a) & set(b)
    assert sorted(np.concatenate([a, b])) == list(range(100))
  assert (per_host[0][0] != per_host[0][1]).any()  # a new order each epoch


def test_uneven_split_gives_hosts_equal_steps():
  lengths = [len(list(make_iterator(_arrays(101), global_batch_size=10, seed=0,
                                    process_index=h, process_count=2, num_epochs=1)))
             for h in (0, 1)]
  assert lengths == [10, 10]  # 100 of the 101 examples, 50 a host, 5 a host batch


def test_map_fn_rng_depends_on_example_and_epoch_only():
  arrays = _arrays(20)
  seen = {}
  for count in (1, 2):
    for host in range(count):
      it = make_iterator(arrays, global_batch_size=2, seed=1, process_index=host,
                         process_count=count, num_epochs=2, map_fn=_noise)
      for step, batch in enumerate(it):
        epoch = step * 2 // count // (20 // count)
        for eid, ids in zip(batch["example_id"], batch["input_ids"], strict=True):
          key = (epoch, int(eid))
          if key in seen:  # the same example and epoch: the same transform, whatever the sharding
            np.testing.assert_array_equal(seen[key], ids)
          seen[key] = ids
  assert len(seen) == 40
  assert any((seen[(0, i)] != seen[(1, i)]).any() for i in range(20))  # dynamic across epochs


def test_pipeline_argument_errors():
  with pytest.raises(ValueError, match="divisible"):
    make_iterator(_arrays(), global_batch_size=5, seed=0, process_index=0, process_count=2)
  with pytest.raises(ValueError, match="one length"):
    make_iterator(dict(a=np.zeros(3), b=np.zeros(4)), global_batch_size=1, seed=0,
                  process_index=0, process_count=1)
  with pytest.raises(ValueError, match="cannot fill one batch"):
    make_iterator(_arrays(4), global_batch_size=8, seed=0, process_index=0, process_count=1,
                  num_epochs=1)


def test_default_process_index_and_count_come_from_jax():
  it = make_iterator(_arrays(), global_batch_size=4, seed=0)
  assert next(it)["input_ids"].shape == (4, 8)  # one host here


def test_build_pretraining_data_end_to_end_and_cached(tmp_path, monkeypatch):
  path = tmp_path / "corpus.txt"
  path.write_text(corpus_text(seed=2, docs=80), encoding="utf-8")
  kw = dict(corpus=[str(path)], tokenizer_dir=None, vocab_size=300, max_seq_len=32, seed=0,
            cache_dir=str(tmp_path / "cache"), progress=False)
  for family, kind, label in [("bert", "wordpiece", "nsp_label"),
                              ("albert", "sentencepiece", "sop_label"),
                              ("roberta", "bpe", None)]:
    # lowercase=True as the trainer's default config passes it; byte BPE ignores it.
    tok, inst = build_pretraining_data(family=family, tokenizer_kind=kind, lowercase=True, **kw)
    assert tok.kind == kind and inst["input_ids"].shape[1] == 32
    assert (inst["input_ids"][:, 0] == tok.cls_id).all()
    assert (label in inst) if label else not any(k.endswith("label") for k in inst)
  first = inst

  def boom(*a, **k):
    raise AssertionError("rebuilt instead of reusing the cache")

  monkeypatch.setattr(tokenizer_training, "train_tokenizer", boom)
  monkeypatch.setattr(pipeline.build_pretraining_data.__globals__["instances"],
                      "build_instances", boom)
  tok, again = build_pretraining_data(family="roberta", tokenizer_kind="bpe", lowercase=True,
                                      **kw)
  for k in first:
    np.testing.assert_array_equal(first[k], again[k])
  it = make_iterator(again, global_batch_size=4, seed=0, process_index=0, process_count=1)
  assert next(it)["input_ids"].shape == (4, 32)


def test_build_pretraining_data_default_corpus_and_tfds(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  tok, inst = build_pretraining_data(
      family="spanbert", corpus=None, tokenizer_dir=str(tmp_path / "tok"),
      tokenizer_kind="wordpiece", vocab_size=2000, max_seq_len=64, seed=0,
      cache_dir=str(tmp_path / "cache"), progress=False)
  assert not tok.lowercase and len(inst["input_ids"]) > 500  # SpanBERT is cased
  assert (tmp_path / "tok" / "vocab.txt").exists()
  texts = [{"text": f"Article {i}. It has words. More words here.\nAnother line {i}.".encode()}
           for i in range(30)]
  with tfds.testing.mock_data(as_data_source_fn=lambda *a, **k: texts):
    tok2, inst2 = build_pretraining_data(
        family="electra", corpus=["tfds:wikipedia/20230601.en"],
        tokenizer_dir=str(tmp_path / "tok"), tokenizer_kind="wordpiece", vocab_size=2000,
        max_seq_len=16, seed=0, cache_dir=str(tmp_path / "cache"), progress=False)
  assert tok2.fingerprint() == tok.fingerprint() and len(inst2["input_ids"]) >= 30
