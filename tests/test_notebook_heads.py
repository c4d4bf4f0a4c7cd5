"""`tag` and `answer` on Hugging Face token-classification and QA directories (random weights),
against transformers' pipeline("token-classification", aggregation_strategy="simple") and the
question-answering pipeline's decoding (the pipeline left transformers in version 5; its
algorithm is rebuilt here on the HF model's logits and the HF tokenizer's overflow windows)."""

import os
import sys

import numpy as np
import pytest
import torch
import transformers as T

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "convert"))
from hub_dirs import write_model, write_tokenizer  # noqa: E402

import bertlab  # noqa: E402

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
# Every word is one token of the test vocabulary, so word-level and token-level agree.
TAG_TEXTS = ["Ada Lovelace lives in London .", "she worked with charles babbage in paris",
             "the river seine flows through paris , france", "hello world"]


def test_tag_matches_the_token_classification_pipeline(tmp_path):
  write_tokenizer(tmp_path)
  write_model(tmp_path, T.BertForTokenClassification, seed=3, num_labels=len(LABELS),
              id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)})
  pipe = T.pipeline("token-classification", model=str(tmp_path), aggregation_strategy="simple",
                    device="cpu")
  m = bertlab.load(str(tmp_path), batch_size=2)
  got = m.tag(TAG_TEXTS)
  assert sum(len(g) for g in got) >= 4  # the random weights do tag something
  for text, ours, ref in zip(TAG_TEXTS, got, pipe(TAG_TEXTS)):
    assert [(e["label"], e["start"], e["end"]) for e in ours] == [
        (r["entity_group"], r["start"], r["end"]) for r in ref]
    np.testing.assert_allclose([e["score"] for e in ours], [r["score"] for r in ref], atol=1e-5)
    assert all(e["text"] == text[e["start"]:e["end"]] for e in ours)
  assert m.tag(TAG_TEXTS[0]) == got[0] and m.tag([""]) == [[]]
  with pytest.raises(ValueError, match="tag needs a fine-tuned token classifier"):
    bertlab.load(str(_encoder_dir(tmp_path))).tag(["x"])


def _encoder_dir(tmp_path):
  d = tmp_path / "encoder"
  write_tokenizer(d)
  write_model(d)
  return d


def _reference_answer(model, tok, question, context, max_length, stride, max_answer_len=15):
  """transformers 4's QuestionAnsweringPipeline, top 1, on fast-tokenizer windows."""
  enc = tok(question, context, truncation="only_second", max_length=max_length, stride=stride,
            return_overflowing_tokens=True, return_offsets_mapping=True, padding=True,
            return_tensors="pt")
  with torch.no_grad():
    out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                token_type_ids=enc["token_type_ids"])
  best = None
  for w in range(enc["input_ids"].shape[0]):
    seq = enc.sequence_ids(w)
    p_mask = np.array([s != 1 for s in seq])
    p_mask[0] = False  # the pipeline keeps [CLS]
    undesired = ~p_mask & (enc["attention_mask"][w].numpy() == 1)
    probs = []
    for logits in (out.start_logits[w].numpy(), out.end_logits[w].numpy()):
      x = np.where(undesired, logits, -10000.0)
      p = np.exp(x - x.max())
      p = p / p.sum()
      p[0] = 0.0
      probs.append(p)
    cand = np.tril(np.triu(np.outer(*probs)), max_answer_len - 1)
    s, e = np.unravel_index(np.argmax(cand), cand.shape)
    if not (undesired[s] and undesired[e]):
      continue
    offsets = enc["offset_mapping"][w].tolist()
    span = (float(cand[s, e]), offsets[s][0], offsets[e][1])
    if best is None or span[0] > best[0]:
      best = span
  return {"score": best[0], "start": best[1], "end": best[2], "answer": context[best[1]:best[2]]}


def test_answer_matches_the_qa_pipeline_over_windows(tmp_path):
  write_tokenizer(tmp_path)
  model = write_model(tmp_path, T.BertForQuestionAnswering, seed=4)
  tok = T.AutoTokenizer.from_pretrained(tmp_path)
  context = " ".join(["ada lovelace worked with charles babbage in london ."] * 6
                     + ["the river seine flows through paris , france ."] * 4)
  questions = ["where did she live ?", "who is it ?"]
  m = bertlab.load(str(tmp_path), batch_size=4)
  n_windows = len(tok(questions[0], context, truncation="only_second", max_length=48, stride=16,
                      return_overflowing_tokens=True)["input_ids"])
  assert n_windows >= 4  # the long context really is read in doc-stride windows
  got = m.answer(questions, [context, context], max_length=48, doc_stride=16)
  for q, g in zip(questions, got):
    ref = _reference_answer(model, tok, q, context, 48, 16)
    assert (g["start"], g["end"], g["answer"]) == (ref["start"], ref["end"], ref["answer"])
    assert g["score"] == pytest.approx(ref["score"], abs=1e-5)
  assert m.answer(questions[0], context, max_length=48, doc_stride=16) == got[0]
  top = m.answer(questions[0], context, top_k=3, max_length=48, doc_stride=16)
  assert len(top) == 3 and top[0] == got[0] and top[0]["score"] >= top[2]["score"]
  assert m.answer("who ?", "") == {"score": 0.0, "start": 0, "end": 0, "answer": ""}
  with pytest.raises(ValueError, match="one context per question"):
    m.answer(questions, [context])
