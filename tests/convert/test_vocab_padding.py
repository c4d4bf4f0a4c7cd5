"""Import pads the vocabulary when asked (--vocab-multiple), export writes the real size: the
round trip gives the source's tensors and shapes, and a padded model never fills a mask with a
padded id."""

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from tiny_models import VOCAB, hf_models, save_hf

import bertlab
from bertlab.convert.__main__ import run
from bertlab.convert.bundle import flatten

PADDED = 384  # VOCAB 320 rounded up to a multiple of 128


def _weights(d):
  return load_file(str(d / "model.safetensors"))


@pytest.mark.parametrize("family", ["bert", "albert", "roberta", "electra"])
def test_import_pads_and_export_writes_the_source_back(family, tmp_path):
  src = tmp_path / "hf"
  save_hf(hf_models(family), src, "safetensors", family)
  run(["import", str(src), str(tmp_path / "ours"), "--vocab-multiple", "128"], echo=print)
  ours = flatten(bertlab.load(str(tmp_path / "ours")).params)
  vocab_leaves = {k: v.shape for k, v in ours.items() if v.shape[:1] == (PADDED,)}
  word = "embeddings/word/embedding" if family == "electra" else \
      "encoder/embeddings/word/embedding"
  assert word in vocab_leaves, sorted(vocab_leaves)
  for k in vocab_leaves:  # the padding is zeros, the real rows are the source's
    assert not np.asarray(ours[k])[VOCAB:].any(), k
  run(["export", str(tmp_path / "ours"), str(tmp_path / "back")], echo=print)
  for sub in (("generator", "discriminator") if family == "electra" else ("",)):
    a, b = _weights(src / sub), _weights(tmp_path / "back" / sub)
    assert sorted(a) == sorted(b)
    for k in a:
      assert a[k].shape == b[k].shape, k
      np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_fill_mask_never_returns_a_padded_id(tmp_path):
  src = tmp_path / "hf"
  save_hf(hf_models("bert"), src, "safetensors", "bert")
  run(["import", str(src), str(tmp_path / "ours"), "--vocab-multiple", "128"], echo=print)
  # Padded rows that would win every softmax if their logits were not masked; the ids past the
  # tiny tokenizer's (fewer than VOCAB) pushed down so that every real answer decodes.
  params = load_file(str(tmp_path / "ours" / "params.safetensors"))
  n = bertlab.load(str(tmp_path / "ours")).tokenizer.vocab_size
  params["mlm/bias"][n:VOCAB] = -1e4
  params["mlm/bias"][VOCAB:] = 1e4
  save_file(params, str(tmp_path / "ours" / "params.safetensors"))
  m = bertlab.load(str(tmp_path / "ours"))
  assert m.config.padded_vocab_size == PADDED and m.config.vocab_size == VOCAB
  out = m.fill_mask("the cat [MASK] on the mat .", top_k=5)
  assert len(out) == 5 and all(o["id"] < n for o in out), out
  assert 0 < sum(o["score"] for o in out) <= 1.0 + 1e-6
