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

import os

import numpy as np

from bertlab.data.cache import NpyWriter, TokenCache

FAMILIES = ("bert", "albert", "roberta", "electra", "spanbert")
BASE_KEYS = ("input_ids", "token_type_ids", "attention_mask", "word_starts", "special_mask")


class InstanceWriter:
  """Accumulates examples described as parts into [N, L] arrays, block by block.

  A part is (a, b, token_type): b >= 0 is the cache's token range [a, b); b < 0 is the single
  special token id a. With `out_dir`, each full block goes to `<key>.npy` files there at once
  and `finish` returns them memory-mapped, so memory stays at one block whatever N is.
  """

  def __init__(self, cache: TokenCache, max_seq_len: int, pad_id: int,
               label_key: str | None = None, out_dir: str | None = None, block: int = 4096):
    self.ids, self.ws = cache.ids, cache.word_starts
    self.L, self.pad_id, self.label_key, self.block = max_seq_len, pad_id, label_key, block
    self.keys = BASE_KEYS + ((label_key,) if label_key else ())
    self.out_dir = out_dir
    self._files = {}
    if out_dir:
      self._files = {k: NpyWriter(os.path.join(out_dir, k + ".npy"), self._dtype(k),
                                  () if k == label_key else (max_seq_len,)) for k in self.keys}
    self._done: list[dict[str, np.ndarray]] = []  # full blocks kept in memory (no out_dir)
    self._blk: dict[str, np.ndarray] | None = None
    self._n = 0  # rows used in the current block
    self.count = 0

  def _dtype(self, key):
    return np.bool_ if key in ("word_starts", "special_mask") else np.int32

  def _new_block(self):
    if self._blk is not None:
      self._retire(self._blk)
    b, L = self.block, self.L
    self._blk = {k: np.zeros((b,) if k == self.label_key else (b, L), self._dtype(k))
                 for k in self.keys}
    self._blk["input_ids"][:] = self.pad_id
    self._blk["special_mask"][:] = True  # pads are special
    self._n = 0

  def _retire(self, blk, rows=None):
    if self.out_dir:
      for k, w in self._files.items():
        w.write(blk[k][:rows])
    else:
      self._done.append({k: v[:rows] for k, v in blk.items()})

  def add(self, parts: list[tuple[int, int, int]], label: int = 0) -> None:
    if self._blk is None or self._n == self.block:
      self._new_block()
    blk, r = self._blk, self._n
    pos = 0
    for a, b, t in parts:
      if b < 0:
        blk["input_ids"][r, pos] = a
        blk["token_type_ids"][r, pos] = t
        pos += 1
        continue
      n = b - a
      if pos + n > self.L:
        raise AssertionError(f"example longer than max_seq_len={self.L}: parts {parts}")
      blk["input_ids"][r, pos:pos + n] = self.ids[a:b]
      blk["word_starts"][r, pos:pos + n] = self.ws[a:b]
      blk["word_starts"][r, pos] = True
      blk["special_mask"][r, pos:pos + n] = False
      blk["token_type_ids"][r, pos:pos + n] = t
      pos += n
    blk["attention_mask"][r, :pos] = 1
    if self.label_key:
      blk[self.label_key][r] = label
    self._n += 1
    self.count += 1

  def __len__(self) -> int:
    return self.count

  def finish(self) -> dict[str, np.ndarray]:
    if self.count == 0:
      raise ValueError("no example could be built: the corpus is too small for this family "
                       "(e.g. a single one-token document); give it more text")
    self._retire(self._blk, self._n)
    self._blk = None
    if self.out_dir:
      for w in self._files.values():
        w.__exit__(None, None, None)
      return {k: np.load(w.path, mmap_mode="r") for k, w in self._files.items()}
    out = {k: np.concatenate([b[k] for b in self._done]) for k in self.keys}
    self._done = []
    return out


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
  from bertlab.data import instance_pairs

  if family not in FAMILIES:
    raise ValueError(f"family: expected one of {FAMILIES}, got {family!r}")
  if not 8 <= max_seq_len <= 1 << 16:
    raise ValueError(f"max_seq_len: expected 8..65536, got {max_seq_len}")
  rng = np.random.default_rng(seed)
  sp = dict(cls_id=cls_id, sep_id=sep_id)
  if family in ("bert", "albert"):
    w = InstanceWriter(cache, max_seq_len, pad_id,
                       "nsp_label" if family == "bert" else "sop_label", out_dir)
    for _ in range(dupe_factor):
      instance_pairs.segment_pairs(cache, w, rng, objective="nsp" if family == "bert" else "sop",
                                   short_seq_prob=short_seq_prob, **sp)
  elif family == "electra":
    w = InstanceWriter(cache, max_seq_len, pad_id, out_dir=out_dir)
    for _ in range(dupe_factor):
      instance_pairs.electra_pairs(cache, w, rng, **sp)
  else:
    if roberta_packing not in ("full", "doc"):
      raise ValueError(f"roberta_packing: expected 'full' or 'doc', got {roberta_packing!r}")
    w = InstanceWriter(cache, max_seq_len, pad_id, out_dir=out_dir)
    pack_sentences(cache, w, cross_documents=family == "roberta" and roberta_packing == "full",
                   **sp)
  return w.finish()


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
