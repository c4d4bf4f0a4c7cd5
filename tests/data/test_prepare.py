"""Sharded preparation: any number of shards (or processes) gives the examples one would."""

import gzip
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
from datahelpers import corpus_text

from bertlab.data import prepare, prepared
from bertlab.data.tokenizer_training import train_tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def corpus(tmp_path):
  d = tmp_path / "corpus"
  d.mkdir()
  for i in range(5):
    (d / f"part-{i}.txt").write_text(corpus_text(seed=i, docs=8 + 6 * i), encoding="utf-8")
  with gzip.open(d / "part-5.txt.gz", "wt", encoding="utf-8") as f:
    f.write(corpus_text(seed=9, docs=10))
  tok_dir = tmp_path / "tok"
  train_tokenizer("wordpiece", [corpus_text(seed=0)], vocab_size=300).save(str(tok_dir))
  return d, tok_dir


def _options(corpus, tok_dir, family="bert", roberta_packing="full", **kw):
  return dict(family=family, corpus=[str(corpus / "*")], doc_per_line=False, max_seq_len=48,
              seed=3, short_seq_prob=0.1, dupe_factor=1, roberta_packing=roberta_packing,
              tokenizer_kind="wordpiece", vocab_size=300, lowercase=True,
              tokenizer_dir=str(tok_dir), **kw)


def _rows(p: prepared.Prepared):
  return {k: np.stack([p.examples[i][k] for i in range(len(p.examples))])
          for k in p.examples[0]}


@pytest.mark.parametrize("family, packing", [("bert", "full"), ("roberta", "full"),
                                             ("roberta", "doc")])
def test_shards_union_equals_one_preparation(tmp_path, corpus, family, packing):
  o = _options(*corpus, family=family, roberta_packing=packing)
  tok = prepare.resolve_tokenizer(o, str(tmp_path / "one"), may_train=False)
  assert prepare.prepare_shard(o, str(tmp_path / "one"), tok) is not None
  assert prepare.prepare_shard(o, str(tmp_path / "three"), tok, 2, 3) is None  # not all done
  prepare.prepare_shard(o, str(tmp_path / "three"), tok, 0, 3)
  assert prepare.prepare_shard(o, str(tmp_path / "three"), tok, 1, 3) is not None
  one, three = (prepared.open_prepared(str(tmp_path / d), o) for d in ("one", "three"))
  assert one.fingerprints == three.fingerprints
  assert one.manifest["num_examples"] == len(three.examples) > 50
  a, b = _rows(one), _rows(three)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)
  assert one.manifest["index_bytes"] / one.manifest["num_tokens"] < 2.0


def test_roberta_doc_sentences_from_the_config(tmp_path, corpus):
  """data.roberta_packing reaches the preparation: FULL-SENTENCES rows run on into the next
  document after an extra [SEP]; DOC-SENTENCES rows (RoBERTa T2) stop at a document's end."""
  from bertlab.training.tiny import tiny_config

  seps = {}
  for mode in ("full", "doc"):
    c = tiny_config("roberta")
    c.data.roberta_packing = mode
    o = dict(prepare.options_from_config(c), corpus=[str(corpus[0] / "*")], max_seq_len=48,
             tokenizer_kind="wordpiece", vocab_size=300, lowercase=True,
             tokenizer_dir=str(corpus[1]))
    assert o["roberta_packing"] == mode
    out = str(tmp_path / mode)
    prepare.prepare_shard(o, out, prepare.resolve_tokenizer(o, out, may_train=False))
    p = prepared.open_prepared(out, o)
    sep = p.tokenizer.sep_id
    seps[mode] = [int((p.examples[i]["input_ids"] == sep).sum()) for i in range(len(p.examples))]
  assert max(seps["full"]) >= 2                 # some rows cross a document
  assert set(seps["doc"]) == {1}                # none does
  assert len(seps["doc"]) > len(seps["full"])   # so there are more, shorter rows


def test_assign_pieces_balances_by_size():
  shards = prepare.assign_pieces([10, 1, 1, 7, 3, 3], 3)
  assert shards == [[0], [2, 3], [1, 4, 5]]  # loads 10, 8, 7
  assert sorted(sum(shards, [])) == list(range(6))


def test_two_processes_prepare_cooperatively_as_one(tmp_path, corpus):
  o = _options(*corpus)
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
  procs = [subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__),
                                                          "prepare_worker.py"),
                             str(port), "2", str(i), json.dumps(o), str(tmp_path / "coop"),
                             str(tmp_path)], env=env, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  for p in procs:
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err[-3000:]
  records = sorted(os.listdir(tmp_path / "coop" / "shards"))
  assert len(records) == 2 and records[1].endswith("-00001-of-00002.json")
  single = prepared.prepare_cooperatively(o, str(tmp_path / "single"), process_index=0,
                                          process_count=1, barrier=lambda: None)
  want = np.stack([single.examples[i]["input_ids"] for i in range(len(single.examples))])
  for i in range(2):
    seen = np.load(tmp_path / f"seen-{i}.npz")
    np.testing.assert_array_equal(seen["ids"], want)
    assert str(seen["data"]) == single.fingerprints["data"]


def test_multi_host_without_fixed_tokenizer_is_one_clear_error(tmp_path, corpus):
  o = _options(*corpus)
  o["tokenizer_dir"] = None
  with pytest.raises(ValueError, match="multi-host run needs a fixed tokenizer"):
    prepared.prepare_cooperatively(o, str(tmp_path / "p"), process_index=0, process_count=2,
                                   barrier=lambda: None)
  with pytest.raises(ValueError, match="--tokenizer_only"):
    prepare.resolve_tokenizer(o, str(tmp_path / "p"), may_train=False)


def test_touched_files_keep_fingerprints_and_other_options_are_refused(tmp_path, corpus):
  o = _options(*corpus)
  tok = prepare.resolve_tokenizer(o, str(tmp_path), may_train=False)
  first = prepare.prepare_shard(o, str(tmp_path / "p"), tok)
  for f in os.listdir(corpus[0]):
    path = corpus[0] / f
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
  again = prepare.prepare_shard(o, str(tmp_path / "p"), tok)
  assert again["fingerprints"] == first["fingerprints"]
  assert len(os.listdir(tmp_path / "p" / "pieces")) == 6  # nothing rebuilt
  with pytest.raises(ValueError, match=r"max_seq_len=48 there, 64 here"):
    prepared.open_prepared(str(tmp_path / "p"), dict(o, max_seq_len=64))


def test_bad_files_are_skipped_and_listed_in_the_manifest(tmp_path, corpus):
  d, tok_dir = corpus
  (d / "fake.gz").write_bytes(b"plain text, not gzip\n")
  whole = gzip.compress(b"word salad here.\n" * 3000)
  (d / "cut.gz").write_bytes(whole[: len(whole) // 3])
  o = _options(d, tok_dir)
  tok = prepare.resolve_tokenizer(o, str(tmp_path), may_train=False)
  m = prepare.prepare_shard(o, str(tmp_path / "p"), tok)
  causes = dict((os.path.basename(f), c) for f, c in m["skipped"])
  assert causes["fake.gz"].startswith("not a gzip file")
  assert any(c.startswith("truncated gzip") for f, c in causes.items() if f == "cut.gz")
  assert m["num_examples"] > 50
  bad = tmp_path / "bad"
  bad.mkdir()
  (bad / "x.gz").write_bytes(b"nope\n")
  with pytest.raises(ValueError, match=r"no usable text in the corpus: .*x\.gz: .*not a gzip"):
    prepare.prepare_shard(dict(o, corpus=[str(bad / "*")]), str(tmp_path / "q"), tok)


@pytest.mark.parametrize("doc_per_line", [False, True])
def test_big_files_cut_at_document_boundaries(tmp_path, doc_per_line):
  from bertlab.data import corpora, corpus_files

  path = tmp_path / "big.txt"
  path.write_text(corpus_text(seed=1, docs=120), encoding="utf-8")
  cuts = corpus_files.document_boundaries(str(path), 2000, doc_per_line)
  assert len(cuts) > 10 and cuts[0] == 0 and cuts[-1] == path.stat().st_size
  whole = list(corpora.TextFiles([str(path)], doc_per_line=doc_per_line).documents())
  parts = [doc for a, b in zip(cuts, cuts[1:]) for doc in corpora.TextFiles(
      [str(path)], doc_per_line=doc_per_line, glob=False, byte_range=(a, b)).documents()]
  assert parts == whole


def test_shards_of_document_ranges_equal_one_preparation(tmp_path, corpus):
  o = dict(_options(*corpus), piece_bytes=1500)
  tok = prepare.resolve_tokenizer(o, str(tmp_path), may_train=False)
  one = prepare.prepare_shard(o, str(tmp_path / "one"), tok)
  assert len(one["pieces"]) > 12 and any(p["range"] for p in one["pieces"])
  for i in range(4):
    four = prepare.prepare_shard(o, str(tmp_path / "four"), tok, i, 4)
  assert four["fingerprints"] == one["fingerprints"]
  a, b = (_rows(prepared.open_prepared(str(tmp_path / d), o)) for d in ("one", "four"))
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)
