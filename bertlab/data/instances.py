"""Fixed-length pretraining examples per family, built from a token cache.

Every family yields the same arrays, N examples of length L = max_seq_len, right-padded:
  input_ids       int32 [N, L]  pad_id after the sequence
  token_type_ids  int32 [N, L]  0 on [CLS] A [SEP], 1 on B [SEP] (pads 0)
  attention_mask  int32 [N, L]  1 on tokens, 0 on pads
  word_starts     bool  [N, L]  first sub-token of each whole word; False on specials and pads.
                                The first token of every segment is a word start, also where
                                truncation cut a word.
  special_mask    bool  [N, L]  True on [CLS]/[SEP]/<s>/</s>/pads: never to be masked
plus the family's label: `nsp_label` (BERT: 1 = B is a random segment) or `sop_label` (ALBERT:
1 = A and B swapped), int32 [N].

  bert      google-research/bert create_pretraining_data.py (pairs, NSP, short_seq_prob)
  albert    google-research/albert create_pretraining_data.py (pairs, SOP)
  electra   google-research/electra build_pretraining_dataset.py (pairs of one document, no label)
  roberta   FULL-SENTENCES (crossing documents with an extra </s>) or DOC-SENTENCES packing
  spanbert  one contiguous segment of one document: [CLS] ... [SEP]

Examples refer to the cache by token ranges (segments of one document are contiguous in it), so
building holds no text and no per-token Python objects. Deterministic given the seed.
"""

from __future__ import annotations

import numpy as np

from bertlab.data import instance_pairs
from bertlab.data.cache import TokenCache
from bertlab.data.instance_writer import InstanceWriter

FAMILIES = ("bert", "albert", "roberta", "electra", "spanbert")


def build_instances(cache: TokenCache, family: str, *, max_seq_len: int, seed: int,
                    pad_id: int, cls_id: int, sep_id: int, short_seq_prob: float = 0.1,
                    dupe_factor: int = 1, roberta_packing: str = "full",
                    out_dir: str | None = None) -> dict[str, np.ndarray]:
  """All examples of one family from `cache` (see the module docstring for the arrays).

  dupe_factor: passes over the corpus (bert/albert/electra), each drawing new pairs.
  roberta_packing: "full" (FULL-SENTENCES) or "doc" (DOC-SENTENCES).
  out_dir: stream the arrays to `<key>.npy` there and return them memory-mapped (bounded
    memory); None keeps them in memory.
  """
  if family not in FAMILIES:
    raise ValueError(f"family: expected one of {FAMILIES}, got {family!r}")
  if not 8 <= max_seq_len <= 1 << 16:
    raise ValueError(f"max_seq_len: expected 8..65536, got {max_seq_len}")
  rng = np.random.default_rng(seed)
  if family in ("roberta", "spanbert") and roberta_packing not in ("full", "doc"):
    raise ValueError(f"roberta_packing: expected 'full' or 'doc', got {roberta_packing!r}")
  w = InstanceWriter(cache, max_seq_len, pad_id, LABEL_KEYS.get(family), out_dir)
  write_examples(cache, family, w, rng, cls_id=cls_id, sep_id=sep_id,
                 short_seq_prob=short_seq_prob, dupe_factor=dupe_factor,
                 roberta_packing=roberta_packing)
  return w.finish()


LABEL_KEYS = dict(bert="nsp_label", albert="sop_label")


def write_examples(cache: TokenCache, family: str, writer, rng: np.random.Generator, *,
                   cls_id: int, sep_id: int, short_seq_prob: float = 0.1, dupe_factor: int = 1,
                   roberta_packing: str = "full") -> None:
  """Adds every example of `family` built from `cache` to `writer` (an `InstanceWriter`, or the
  compact `example_index.IndexWriter`: the same examples either way)."""
  sp = dict(cls_id=cls_id, sep_id=sep_id)
  if family in ("bert", "albert"):
    for _ in range(dupe_factor):
      instance_pairs.segment_pairs(cache, writer, rng, objective="nsp" if family == "bert" else "sop",
                                   short_seq_prob=short_seq_prob, **sp)
  elif family == "electra":
    for _ in range(dupe_factor):
      instance_pairs.electra_pairs(cache, writer, rng, **sp)
  else:
    pack_sentences(cache, writer, cross_documents=family == "roberta" and roberta_packing == "full",
                   **sp)


def pack_sentences(cache: TokenCache, writer: InstanceWriter, *, cross_documents: bool,
                   cls_id: int, sep_id: int) -> None:
  """Packs whole sentences, in order, into `<s> ... </s>` / `[CLS] ... [SEP]` examples.

  cross_documents (RoBERTa FULL-SENTENCES): a sequence continues into the next document after an
  extra separator; otherwise (DOC-SENTENCES, SpanBERT) each document starts a new sequence. A
  sentence longer than a whole sequence is cut into full-length pieces.
  """
  budget = writer.L - 2
  offs = np.asarray(cache.sentence_offsets)
  docs = np.asarray(cache.doc_offsets)
  parts: list[tuple[int, int, int]] = []
  used = 0

  def emit():
    nonlocal parts, used
    if used:
      writer.add([(cls_id, -1, 0)] + parts + [(sep_id, -1, 0)])
    parts, used = [], 0

  for d in range(cache.num_documents):
    first = True
    for s in range(int(docs[d]), int(docs[d + 1])):
      a, b = int(offs[s]), int(offs[s + 1])
      sep = 1 if (first and used) else 0  # the extra separator between documents
      if used and used + sep + (b - a) > budget:
        emit()
        sep = 0
      if sep:
        parts.append((sep_id, -1, 0))
        used += 1
      while b - a > budget:  # an over-long sentence (nothing before it, see above): full pieces
        writer.add([(cls_id, -1, 0), (a, a + budget, 0), (sep_id, -1, 0)])
        a += budget
      if b > a:
        parts.append((a, b, 0))
        used += b - a
      first = False
    if not cross_documents:
      emit()
  emit()
