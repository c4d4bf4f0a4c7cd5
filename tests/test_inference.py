"""Hub-style directories through `bertlab.load`: ids as transformers' AutoTokenizer gives them
(stored padding / truncation ignored, post-processor, tokenizer_config.json honoured),
embeddings as sentence-transformers', and length-sorted batching that changes no result."""

import os
import sys
import warnings

import numpy as np
import pytest
import transformers as T

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "convert"))
from hub_dirs import HARD, LONG, write_model, write_sentence_transformers, write_tokenizer  # noqa: E402,I001

import bertlab  # noqa: E402
from bertlab import inference  # noqa: E402

TEXTS = HARD + [LONG, "a", "the cat sat on the mat ."]


def _hf_ids(path, texts, pairs=None):
  tok = T.AutoTokenizer.from_pretrained(path)
  # The model's 128 positions cap a tokenizer_config.json without model_max_length.
  n = min(tok.model_max_length, 128)
  kw = dict(truncation=True, max_length=n, return_token_type_ids=True)
  enc = tok(texts, pairs, **kw) if pairs else tok(texts, **kw)
  return enc["input_ids"], enc["token_type_ids"]


def _ours(m, texts, pairs=None):
  out = m.encode(texts, pairs)
  return [r[:n].tolist() for r, n in zip(out["input_ids"], out["mask"].sum(1))]


@pytest.mark.parametrize("variant", ["fixed_padding", "lowercase_off", "template",
                                     "model_max_length"])
def test_ids_as_autotokenizer(tmp_path, variant):
  kw = {"fixed_padding": {}, "lowercase_off": dict(config={"do_lower_case": False}),
        # transformers uses the file's post-processor with its generic class only.
        "template": dict(single="[CLS] $A [SEP] [SEP]", pair="[CLS] $A [SEP] [SEP] $B:1 [SEP]:1",
                         config={"tokenizer_class": "PreTrainedTokenizerFast"}),
        "model_max_length": dict(config={"model_max_length": 24})}[variant]
  write_tokenizer(tmp_path, **kw)
  write_model(tmp_path)
  m = bertlab.load(str(tmp_path))
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    ours = _ours(m, TEXTS)
    _ours(m, TEXTS)
  hf_ids, _ = _hf_ids(tmp_path, TEXTS)
  assert ours == hf_ids
  assert max(len(r) for r in ours) <= (24 if variant == "model_max_length" else 128)
  assert ours[-1][0] == 2 and ours[-1].count(0) == 0  # [CLS] first, no [PAD] inside
  assert ours[-1][-2:] == ([3, 3] if variant == "template" else [ours[-1][-2], 3])
  # The long text is truncated, said once (not once per call).
  assert sum("truncated" in str(w.message) for w in caught) == 1
  a, b = TEXTS[:4], TEXTS[4:8]
  out = m.encode(a, b)
  hf_ids, hf_types = _hf_ids(tmp_path, a, b)
  n = out["mask"].sum(1)
  assert [r[:k].tolist() for r, k in zip(out["input_ids"], n)] == hf_ids
  _, types = m._inputs(a, b, None)
  assert [t.tolist() for t in types] == hf_types
  if variant == "lowercase_off":
    assert ours[0] != _ours(bertlab.load(str(_lower_dir(tmp_path))), TEXTS[:1])[0]


def _lower_dir(tmp_path):
  d = tmp_path / "lower"
  write_tokenizer(d)
  write_model(d)
  return d


def test_embed_equals_sentence_transformers(tmp_path):
  """The issue's case: a fixed-padding tokenizer.json; embed == ST encode to 1e-4."""
  st = pytest.importorskip("sentence_transformers")
  write_tokenizer(tmp_path)
  model = write_model(tmp_path)
  write_sentence_transformers(tmp_path, model.config.hidden_size)
  ref = st.SentenceTransformer(str(tmp_path), device="cpu").encode(
      TEXTS, normalize_embeddings=True, batch_size=3)
  m = bertlab.load(str(tmp_path), batch_size=3)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    got = m.embed(TEXTS, normalize=True)
  assert got.shape == ref.shape
  assert np.abs(got - ref).max() <= 1e-4
  np.testing.assert_allclose(m.embed(TEXTS[:3]), got[:3], atol=1e-5)  # its Normalize module
  np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_sorted_batches_keep_order_and_values(tmp_path):
  """Batches cut from length-sorted texts, each at its own bucketed length, give each text
  what it gets alone, in the caller's order; bad input is one clear error."""
  write_tokenizer(tmp_path)
  write_model(tmp_path)
  m = bertlab.load(str(tmp_path), batch_size=2)
  texts = ["a", "the cat sat on the mat and the dog ran in the park .", "paris", "hello world"]
  together = m.embed(texts)
  for i, t in enumerate(texts):
    np.testing.assert_allclose(together[i], m.embed([t])[0], atol=1e-5)
  out = m.encode(texts)
  assert out["hidden"].shape[1] == max(out["mask"].sum(1))
  assert [inference.bucket(n, 512) for n in (1, 17, 25, 33, 100, 300, 600)] == [
      16, 24, 32, 48, 128, 384, 512]
  assert m.embed([""]).shape == (1, 32)  # an empty text is [CLS] [SEP]
  with pytest.raises(ValueError, match="at least one text"):
    m.embed([])
  with pytest.raises(ValueError, match="text_pairs: expected 2 texts"):
    m.encode(["a", "b"], ["c"])
  with pytest.raises(ValueError, match="pooling: expected"):
    m.embed(["a"], pooling="max")


def test_packed_rows_hold_several_texts_once_each():
  lengths = [5, 40, 17, 3, 60, 2, 30, 30, 30]
  row_len, per_call, calls = inference.pack_plan(lengths, 512, batch_size=8)
  # Rows of 64 (the bucket of the longest text, at least 64); 8 texts of 16 tokens a call.
  assert (row_len, per_call) == (64, 2)
  placed = sorted(int(t) for index, _, _ in calls for t in index)
  assert placed == list(range(len(lengths)))
  for index, row, offset in calls:
    assert row.max() < per_call
    for r in set(row.tolist()):  # texts of one row side by side, none overlapping
      spans = sorted((int(o), int(o) + lengths[t]) for t, rr, o in zip(index, row, offset)
                     if rr == r)
      assert all(a_end <= b for (_, a_end), (b, _) in zip(spans, spans[1:]))
      assert spans[-1][1] <= row_len
  # 217 tokens in 4 rows of 64, not 9 rows: several texts share a row.
  assert sum(len(set(row.tolist())) for _, row, _ in calls) == 4
  assert inference.pack_plan([100, 3], 512, 32)[0] == 128
  assert inference.pack_plan([100, 3], 100, 32)[0] == 100  # never past the positions
