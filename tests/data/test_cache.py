"""The token cache: contents equal direct encoding, reuse without tokenizing, atomic writes."""

import os

import numpy as np
import pytest

from bertlab.data import cache as cache_lib
from bertlab.data.corpora import TextFiles
from bertlab.data.tokenizer_training import train_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
  from datahelpers import corpus_text

  path = tmp_path_factory.mktemp("tok") / "t.txt"
  path.write_text(corpus_text(seed=3), encoding="utf-8")
  return train_tokenizer("wordpiece", TextFiles([str(path)]), vocab_size=400)


def test_cache_holds_documents_of_ids(tmp_path, corpus_file, tokenizer):
  corpus = TextFiles([corpus_file])
  c = cache_lib.build_cache(corpus, tokenizer, str(tmp_path), batch_sentences=7, progress=False)
  docs = list(corpus.documents())
  assert c.num_documents == len(docs) and c.num_sentences == sum(map(len, docs))
  assert isinstance(c.ids, np.memmap) and c.ids.dtype == np.uint16  # vocab < 65536
  assert c.word_starts.dtype == np.bool_ and c.sentence_offsets.dtype == np.int64
  for d in (0, 5, len(docs) - 1):
    expected = tokenizer.encode_batch(docs[d])
    for got, (ids, _) in zip(c.document(d), expected, strict=True):
      np.testing.assert_array_equal(got, ids)
  flat_ws = np.concatenate([ws for doc in docs for _, ws in tokenizer.encode_batch(doc)])
  np.testing.assert_array_equal(c.word_starts, flat_ws)
  assert c.meta["corpus"]["documents"] == len(docs) and c.meta["num_tokens"] == c.num_tokens


def test_second_build_reuses_cache_without_tokenizing(tmp_path, corpus_file, tokenizer,
                                                      monkeypatch):
  first = cache_lib.build_cache(TextFiles([corpus_file]), tokenizer, str(tmp_path), progress=False)

  def boom(*a, **k):
    raise AssertionError("tokenizer called on a cache hit")

  monkeypatch.setattr(tokenizer, "encode_flat", boom)
  again = cache_lib.build_cache(TextFiles([corpus_file]), tokenizer, str(tmp_path), progress=False)
  assert again.path == first.path
  np.testing.assert_array_equal(again.ids, first.ids)
  # A changed file is a new key, so it is tokenized again.
  with open(corpus_file, "a") as f:
    f.write("\nmore text here\n")
  with pytest.raises(AssertionError, match="tokenizer called"):
    cache_lib.build_cache(TextFiles([corpus_file]), tokenizer, str(tmp_path), progress=False)


def test_interrupted_build_leaves_no_cache(tmp_path, corpus_file, tokenizer, monkeypatch):
  real = tokenizer.encode_flat
  calls = []

  def dies_on_second_batch(texts):
    calls.append(1)
    if len(calls) == 2:
      raise KeyboardInterrupt
    return real(texts)

  monkeypatch.setattr(tokenizer, "encode_flat", dies_on_second_batch)
  with pytest.raises(KeyboardInterrupt):
    cache_lib.build_cache(TextFiles([corpus_file]), tokenizer, str(tmp_path), batch_sentences=5,
                          progress=False)
  assert os.listdir(tmp_path) == ["corpus.txt"]  # neither a cache nor a temporary directory
  monkeypatch.setattr(tokenizer, "encode_flat", real)
  c = cache_lib.build_cache(TextFiles([corpus_file]), tokenizer, str(tmp_path), progress=False)
  assert c.num_tokens > 0


def test_npy_writer_streams_a_loadable_array(tmp_path):
  path = str(tmp_path / "x.npy")
  with cache_lib.NpyWriter(path, np.int32) as w:
    for k in range(5):
      w.write(np.arange(k * 10, k * 10 + 10))
  np.testing.assert_array_equal(np.load(path, mmap_mode="r"), np.arange(50))
  with cache_lib.NpyWriter(path, np.bool_) as w:
    pass
  assert np.load(path).shape == (0,)
