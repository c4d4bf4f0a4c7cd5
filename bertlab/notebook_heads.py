"""The notebook's token-level helpers: `tag` (token classification), `answer` (extractive
QA) and `fill_mask`, as `bertlab.load(path).tag(texts)`, `.answer(question, context)` and
`.fill_mask(text)` call them.

Both follow what transformers' pipelines return, so that a user moving over gets the same
entities and answers from the same weights:
  tag     ~ pipeline("token-classification", aggregation_strategy="simple"), but on words:
          each word takes the label and probability of its first sub-token (BERT's NER
          setup, what fine-tuning trains), then neighbouring words merge into one entity
          unless the next one starts with B- or changes type; 'O' words are dropped; the
          entity's score is the mean of its words'. On texts whose words are single tokens
          this is exactly the pipeline's "simple".
  answer  ~ transformers 4's pipeline("question-answering") (removed in transformers 5):
          question + context windows of max_length tokens overlapping by doc_stride; per
          window softmax over start and end logits with only context tokens and the first
          token ([CLS]) allowed, the first token then zeroed; the best span (end >= start,
          at most max_answer_len tokens) by start_prob * end_prob over every window.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bertlab import inference
from bertlab.tasks.models import TaskModel

MASK_PLACEHOLDERS = ("[MASK]", "<mask>")  # accepted in fill_mask whatever the vocabulary
MASKED_LOGIT = -10000.0  # transformers' value for tokens a span may not use


def _bio(label: str) -> tuple[str, str]:
  if label.startswith(("B-", "I-")):
    return label[0], label[2:]
  return "I", label


def _span(text: str, start: int, end: int) -> tuple[int, int]:
  # Byte-BPE offsets include the space a token starts with; entities do not.
  while start < end and text[start].isspace():
    start += 1
  return start, end


def group_words(text: str, words: list[tuple[str, float, int, int]]) -> list[dict]:
  """[(label, score, start, end)] per word -> entities {"text", "label", "start", "end",
  "score"}, merged as the pipeline's aggregation "simple" merges tokens."""
  groups, current = [], []
  for w in words:
    bi, tag = _bio(w[0])
    if current and tag == _bio(current[-1][0])[1] and bi != "B":
      current.append(w)
    else:
      if current:
        groups.append(current)
      current = [w]
  if current:
    groups.append(current)
  out = []
  for g in groups:
    tag = _bio(g[0][0])[1]
    if tag == "O":
      continue
    start, end = _span(text, g[0][2], g[-1][3])
    out.append({"text": text[start:end], "label": tag, "start": start, "end": end,
                "score": float(np.mean([w[1] for w in g]))})
  return out


def tag(m, texts) -> list[list[dict]]:
  """Entities per text (see module docstring); one list for a single string."""
  if m.kind != "token_classification":
    raise ValueError(f"tag needs a fine-tuned token classifier (a *ForTokenClassification "
                     f"directory or our conll2003 fine-tuning workdir); this checkpoint is a "
                     f"{m.kind} {type(m.model).__name__}")
  single = isinstance(texts, str)
  texts = m._texts(texts)
  tok = m._tokenizer()
  encs = tok.encode_offsets(texts)
  start, _, end, _ = inference.special_layout(tok, pair=False)
  limit = m._limit(None)
  ids, types = inference.build_rows(tok, [np.asarray(e.ids, np.int32) for e in encs], None,
                                    limit)
  m._check_ids(ids)
  m._note_truncation([len(e.ids) + len(start) + len(end) for e in encs], limit)
  fn = lambda params, i, a, t: jax.nn.softmax(m.model.apply(
      {"params": params}, i, a, t, method=TaskModel.logits).astype(np.float32))
  probs, _ = m._run("tag", fn, ids, types, per_token=True)
  labels = m.labels or [f"LABEL_{i}" for i in range(probs.shape[-1])]
  results = []
  for n, (text, enc) in enumerate(zip(texts, encs, strict=True)):
    kept = len(ids[n]) - len(start) - len(end)
    words, seen = [], {}
    for k in range(kept):
      w = enc.word_ids[k]
      if w is None:
        continue
      s, e = enc.offsets[k]
      if w in seen:  # a later sub-token of the word: extend its span
        words[seen[w]][3] = e
        continue
      p = probs[n, len(start) + k]
      seen[w] = len(words)
      words.append([labels[int(p.argmax())], float(p.max()), s, e])
    results.append(group_words(text, [tuple(x) for x in words]))
  return results[0] if single else results


def _windows(n_context: int, budget: int, stride: int) -> list[int]:
  """Start token of each context window: as a fast tokenizer's overflowing tokens, each
  window repeating the previous one's last `stride` tokens."""
  if budget <= stride:
    raise ValueError(f"answer: the question leaves {budget} context tokens per window, not "
                     f"more than doc_stride={stride}; shorten the question or lower doc_stride")
  starts = [0]
  while starts[-1] + budget < n_context:
    starts.append(starts[-1] + budget - stride)
  return starts


def answer(m, question, context, *, top_k: int = 1, max_answer_len: int = 15,
           max_length: int = 384, doc_stride: int = 128):
  """The best answer span(s) of `context`: {"answer", "start", "end" (characters of the
  context), "score" (start_prob * end_prob)}; a list of top_k of them when top_k > 1; a
  list per pair when question and context are lists of equal length."""
  if m.kind != "span":
    raise ValueError(f"answer needs a fine-tuned extractive QA model (a "
                     f"*ForQuestionAnswering directory or our squad fine-tuning workdir); this "
                     f"checkpoint is a {m.kind} {type(m.model).__name__}")
  single = isinstance(question, str)
  questions = m._texts(question)
  contexts = [context] if isinstance(context, str) else list(context)
  if len(contexts) != len(questions):
    raise ValueError(f"answer: expected one context per question ({len(questions)}); found "
                     f"{len(contexts)}")
  tok = m._tokenizer()
  start, mid, end, typed = inference.special_layout(tok)
  max_length = min(max_length, m._limit(None))
  doc_stride = min(doc_stride, max_length // 2)
  q_encs, c_encs = tok.encode_offsets(questions), tok.encode_offsets(contexts)
  ids, types, where = [], [], []  # where: (pair, first context token, context start in row)
  for n, (q, c) in enumerate(zip(q_encs, c_encs, strict=True)):
    budget = max_length - len(q.ids) - len(start) - len(mid) - len(end)
    head = start + list(q.ids) + mid
    for s in _windows(len(c.ids), budget, doc_stride):
      window = list(c.ids[s:s + budget])
      ids.append(np.asarray(head + window + end, np.int32))
      types.append(np.asarray([0] * len(head) + [int(typed)] * (len(window) + len(end)),
                              np.int32))
      where.append((n, s, len(head), len(window)))
  m._check_ids(ids)
  fn = lambda params, i, a, t: m.model.apply({"params": params}, i, a, t,
                                             method=TaskModel.logits).astype(np.float32)
  logits, _ = m._run("answer", fn, ids, types, per_token=True)
  found = [[] for _ in questions]
  for row, (n, s, head, width) in enumerate(where):
    allowed = np.zeros(logits.shape[1], bool)
    allowed[head:head + width] = True
    allowed[0] = True  # the pipeline keeps [CLS] in the softmax (its no-answer score)
    probs = []
    for j in range(2):
      x = np.where(allowed, logits[row, :, j], MASKED_LOGIT)
      p = np.exp(x - x.max())
      p /= p.sum()
      p[0] = 0.0
      probs.append(p)
    outer = np.tril(np.triu(np.outer(probs[0], probs[1])), max_answer_len - 1)
    outer[:head] = 0.0
    outer[:, :head] = 0.0
    outer[head + width:] = 0.0
    outer[:, head + width:] = 0.0
    flat = np.argsort(-outer, axis=None, kind="stable")[:top_k]
    for a, b in zip(*np.unravel_index(flat, outer.shape), strict=True):
      if not (head <= a <= b < head + width):  # an empty context: no span at all
        continue
      offsets = c_encs[n].offsets
      cs, ce = _span(contexts[n], offsets[s + a - head][0], offsets[s + b - head][1])
      found[n].append({"score": float(outer[a, b]), "start": cs, "end": ce,
                       "answer": contexts[n][cs:ce]})
  results = []
  for spans in found:
    spans = sorted(spans, key=lambda x: -x["score"])[:top_k] or [
        {"score": 0.0, "start": 0, "end": 0, "answer": ""}]
    results.append(spans[0] if top_k == 1 else spans)
  return results[0] if single else results


def fill_mask(m, text, top_k: int = 5):
  """`LoadedModel.fill_mask`."""
  if not m.has_mlm:
    raise ValueError(f"fill_mask needs an MLM head; this {type(m.model).__name__} has none. "
                     "Load a checkpoint with one (*ForMaskedLM, *ForPreTraining, an ELECTRA "
                     "generator, or our pretraining workdir)")
  texts = [text] if isinstance(text, str) else list(text)
  rows, positions, parts, marks = zip(*(masked_row(m, t) for t in texts), strict=True)
  p = max(len(x) for x in positions)
  pos = np.zeros((len(texts), 1 << (p - 1).bit_length()), np.int32)
  for i, x in enumerate(positions):
    pos[i, :len(x)] = x
  types = [np.zeros_like(r) for r in rows]
  # Padded vocabulary ids (vocab_multiple) have probability 0: never among the top k.
  top_k = min(top_k, m.config.vocab_size)
  fn = lambda params, i, a, t, pos_BxP: jax.lax.top_k(jax.nn.softmax(
      m._mlm_logits(params, i, a, t, pos_BxP).astype(jnp.float32)), top_k)
  (probs, ids), _ = m._run(f"fill_mask{top_k}", fn, list(rows), types, pos)
  results = []
  for n, (x, pieces, mark) in enumerate(zip(positions, parts, marks, strict=True)):
    per_mask = []
    for j in range(len(x)):
      options = []
      for prob, i in zip(probs[n, j], ids[n, j], strict=True):
        token = m.tokenizer.decode([int(i)]).strip() or m.tokenizer.id_to_token(int(i))
        filled = [token if k == j else mark for k in range(len(x))]
        sequence = pieces[0] + "".join(f + s for f, s in zip(filled, pieces[1:], strict=True))
        options.append({"token": token, "id": int(i), "score": float(prob),
                        "sequence": sequence})
      per_mask.append(options)
    results.append(per_mask[0] if len(per_mask) == 1 else per_mask)
  return results[0] if isinstance(text, str) else results


def masked_row(m, text: str):
  """(ids with special tokens, mask positions, the text's pieces around the masks, the
  mask string found)."""
  tok = m._tokenizer()
  own = tok.id_to_token(tok.mask_id)
  mark = next((x for x in (own,) + MASK_PLACEHOLDERS if x in text), None)
  if mark is None:
    raise ValueError(f"fill_mask: expected {own!r} (or [MASK]) in the text; found none in "
                     f"{text!r}: write e.g. 'Paris is the {own} of France.'")
  pieces = text.split(mark)
  # Byte BPE: the space before a mask belongs to the masked word (RoBERTa's <mask> lstrip).
  parts = [p.rstrip() if tok.kind == "bpe" and k < len(pieces) - 1 else p
           for k, p in enumerate(pieces)]
  encoded = [x for x, _ in tok.encode_batch(parts)]
  body, positions = [], []
  start, _, end, _ = inference.special_layout(tok, pair=False)
  for k, x in enumerate(encoded):
    body.append(x)
    if k < len(encoded) - 1:
      positions.append(len(start) + sum(len(y) for y in body))
      body.append(np.array([tok.mask_id], np.int32))
  ids, _ = inference.build_rows(tok, [np.concatenate(body)], None, m.config.max_length)
  if positions[-1] >= len(ids[0]) - len(end):
    raise ValueError(f"fill_mask: a mask lies beyond the model's {m.config.max_length} "
                     "positions; shorten the text")
  m._check_ids(ids)
  return ids[0], positions, pieces, mark
