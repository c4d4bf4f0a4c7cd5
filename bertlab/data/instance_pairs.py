"""Segment-pair examples: BERT (NSP), ALBERT (SOP) and ELECTRA (no label).

Segments are token ranges of the cache: consecutive sentences of one document are contiguous in
it, so a segment is (start, end) and truncation only moves its ends.
"""

from __future__ import annotations

import numpy as np

from bertlab.data.cache import TokenCache
from bertlab.data.instance_writer import InstanceWriter


def truncation_counts(len_a: int, len_b: int, max_total: int) -> tuple[int, int]:
  """Tokens google-research/bert's `truncate_seq_pair` removes from A and from B.

  It removes one token at a time from the longer segment (B on a tie) until the pair fits; this
  is the closed form of that loop. Which end each token leaves from is a fair coin per token, so
  the number removed from the front is Binomial(count, 1/2).
  """
  excess = len_a + len_b - max_total
  if excess <= 0:
    return 0, 0
  if len_a > len_b:
    d = len_a - len_b
    if excess <= d:
      return excess, 0
    ka, kb = d, 0
  else:
    d = len_b - len_a
    if excess <= d:
      return 0, excess
    ka, kb = 0, d
  rest = excess - d  # from equal lengths: B, A, B, A, ...
  return ka + rest // 2, kb + (rest + 1) // 2


def _truncate(a, b, rng, ka, kb):
  fa = int(rng.binomial(ka, 0.5)) if ka else 0
  fb = int(rng.binomial(kb, 0.5)) if kb else 0
  return (a[0] + fa, a[1] - (ka - fa)), (b[0] + fb, b[1] - (kb - fb))


def segment_pairs(cache: TokenCache, writer: InstanceWriter, rng: np.random.Generator, *,
                  objective: str, short_seq_prob: float, cls_id: int, sep_id: int) -> None:
  """`[CLS] A [SEP] B [SEP]` pairs, one pass over the documents.

  objective "nsp" (BERT, create_instances_from_document): with probability 1/2, B is a run of
    sentences from a random other document (label 1) and the chunk's unused sentences are put
    back; otherwise B is the true continuation (label 0).
  objective "sop" (ALBERT): B is the true continuation, and with probability 1/2 A and B are
    swapped (label 1).
  One change to both references: a chunk of a single sentence is cut at a random token into A
  and B, where the references always pair it with another document. Their labels were biased
  towards 1 by every one-sentence chunk (57 % on short documents); here each label is a fair
  coin, and an ALBERT label-1 pair is always a swap of consecutive text, never a topic change.
  In both, 10 % of documents (short_seq_prob) target a random shorter length, and the longer
  segment is truncated from a random end until the pair fits.
  """
  max_tokens = writer.L - 3
  offs = np.asarray(cache.sentence_offsets)
  docs = np.asarray(cache.doc_offsets)
  num_docs = cache.num_documents
  for d in range(num_docs):
    s_end = int(docs[d + 1])
    target = max_tokens
    if rng.random() < short_seq_prob:
      target = int(rng.integers(2, max_tokens + 1))
    chunk = int(docs[d])  # first sentence of the current chunk
    length, i = 0, chunk
    while i < s_end:
      length += int(offs[i + 1] - offs[i])
      if i == s_end - 1 or length >= target:
        n = i - chunk + 1
        a_end = int(rng.integers(1, n)) if n >= 2 else 1
        seg_a = (int(offs[chunk]), int(offs[chunk + a_end]))
        splittable = n > 1 or seg_a[1] - seg_a[0] > 1
        label = int(rng.random() < 0.5 or not splittable)
        if objective == "nsp" and label:
          seg_b = _random_segment(rng, offs, docs, num_docs, d, target - (seg_a[1] - seg_a[0]))
          i -= n - a_end  # the unused sentences start the next chunk
        elif not splittable:  # sop: a one-token chunk has no order to learn
          chunk, length, i = i + 1, 0, i + 1
          continue
        else:
          if n == 1:  # one sentence: A and B are its two parts, cut at a random token
            cut = int(rng.integers(seg_a[0] + 1, seg_a[1]))
            seg_a, seg_b = (seg_a[0], cut), (cut, seg_a[1])
          else:
            seg_b = (seg_a[1], int(offs[i + 1]))
          if objective == "sop" and label:
            seg_a, seg_b = seg_b, seg_a
        ka, kb = truncation_counts(seg_a[1] - seg_a[0], seg_b[1] - seg_b[0], max_tokens)
        seg_a, seg_b = _truncate(seg_a, seg_b, rng, ka, kb)
        writer.add([(cls_id, -1, 0), (*seg_a, 0), (sep_id, -1, 0), (*seg_b, 1), (sep_id, -1, 1)],
                   label)
        chunk, length = i + 1, 0
      i += 1


def _random_segment(rng, offs, docs, num_docs, d, target_len):
  """Sentences from a random start in a random other document until `target_len` tokens."""
  r = d
  for _ in range(10):  # as the reference: a few tries to avoid the same document
    r = int(rng.integers(0, num_docs))
    if r != d:
      break
  s = int(rng.integers(int(docs[r]), int(docs[r + 1])))
  start, end = int(offs[s]), int(offs[s + 1])
  last = int(docs[r + 1])
  while end - start < target_len and s + 1 < last:
    s += 1
    end = int(offs[s + 1])
  return start, end


def electra_pairs(cache: TokenCache, writer: InstanceWriter, rng: np.random.Generator, *,
                  cls_id: int, sep_id: int) -> None:
  """google-research/electra's ExampleBuilder: sentences of one document are gathered until
  they reach the target length; they split into A (about half) and B (the rest), except with
  probability 0.1 all go to A (a single segment, as in classification inputs); A is cut to
  L - 2 tokens and B to what is left; 5 % of examples target a random length in [5, L].

  One fix to the reference: once a sentence goes to B, all later ones do (the reference could
  put a later short sentence back into A, making A and B non-contiguous).
  """
  L = writer.L
  offs = np.asarray(cache.sentence_offsets)
  docs = np.asarray(cache.doc_offsets)
  target = L
  for d in range(cache.num_documents):
    first, length = int(docs[d]), 0
    s_end = int(docs[d + 1])
    for s in range(first, s_end):
      length += int(offs[s + 1] - offs[s])
      if length >= target or s == s_end - 1:
        _electra_example(writer, rng, offs, first, s + 1, target, cls_id, sep_id)
        target = int(rng.integers(5, L + 1)) if rng.random() < 0.05 else L
        first, length = s + 1, 0


def _electra_example(writer, rng, offs, s0, s1, target, cls_id, sep_id):
  L = writer.L
  first_target = 100_000 if rng.random() < 0.1 else (target - 3) // 2
  a_len, split = 0, s1  # sentences s0..split-1 form A
  for s in range(s0, s1):
    n = int(offs[s + 1] - offs[s])
    if (a_len == 0 or a_len + n < first_target
        or (a_len < first_target and rng.random() < 0.5)):
      a_len += n
    else:
      split = s
      break
  a0 = int(offs[s0])
  a1 = min(int(offs[split]), a0 + L - 2)
  b0 = int(offs[split])
  b1 = min(int(offs[s1]), b0 + max(0, L - (a1 - a0) - 3))
  parts = [(cls_id, -1, 0), (a0, a1, 0), (sep_id, -1, 0)]
  if b1 > b0:
    parts += [(b0, b1, 1), (sep_id, -1, 1)]
  writer.add(parts)
