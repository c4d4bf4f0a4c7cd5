"""Texts -> padded id arrays in each family's layout, and a jit'ed forward over them in
bucketed shapes (what `bertlab.notebook` runs).

Layouts: [CLS] A [SEP] (B [SEP]) with token types 0.. 1.. (BERT, ALBERT, ELECTRA, SpanBERT);
<s> A </s> or <s> A </s></s> B </s> with every type 0 (RoBERTa, byte BPE). Pairs are truncated
as BERT does (`tasks.encoding.truncate_pair`).

Batches are cut from the texts sorted by length (longest first), and each batch is padded to
its own bucketed length, not to the call's longest text: a call of mostly short texts runs
mostly short batches. Results come back in the caller's order.

Compiled shapes: lengths round up to a bucket (16, 24, 32, 48, 64, 96, ... : powers of two
and 1.5 times them, at least 16, at most the model's positions: at most 11 lengths up to 512,
no batch padded by more than a third), and the last, partial batch to a power of two rows (at
most log2(batch_size) + 1 row counts). A notebook thus compiles a handful of programs per
helper, not one per call. Padding rows attend to one token (an all-padding row would attend to
nothing) and are dropped from the results.

Per-token forwards (`encode`, `embed`) pack instead (`run_packed`): texts first-fit into rows
of one bucketed length, several per row, each attending only to itself with positions from 0
(the encoder's `segment_ids` / `position_ids`): no row is padded to its longest text, and none
to a bucket. On SST-2 sentences (512 texts, 6,007 tokens) batches of 32 compute 10,752 bucketed
tokens, sentence-transformers' per-batch longest 7,104, packed rows of 64 about 6,100. Shapes:
one row length per call set (the bucket of the longest text, at least 64) and rows per call a
power of two up to the full count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import numpy as np

from bertlab.tasks.encoding import bucket as bucket_length
from bertlab.tasks.encoding import truncate_pair
from bertlab.tasks.packed_batches import first_fit, place

MIN_LENGTH = 16
MIN_PACKED_ROW = 64  # packed rows: at least this long, so that short texts share them


def special_layout(tokenizer, pair: bool = True) -> tuple[list[int], list[int], list[int], bool]:
  """(before A, between A and B, after the last segment, whether B has token type 1) of a
  pair (or of one text: pair=False): the tokenizer.json post-processor's where transformers
  would use it (`Tokenizer.use_post_processor`), else the family's."""
  own = tokenizer.special_layout(pair) if hasattr(tokenizer, "special_layout") else None
  if own is not None:
    return own
  cls, sep = tokenizer.cls_id, tokenizer.sep_id
  if tokenizer.kind == "bpe":  # RoBERTa: <s> A </s></s> B </s>, one token type
    return [cls], [sep, sep], [sep], False
  return [cls], [sep], [sep], True


def build_rows(tokenizer, pieces_a: Sequence[np.ndarray], pieces_b=None, max_length: int = 512):
  """(ids, types) lists of int32 arrays: each text with the family's special tokens,
  truncated to max_length tokens."""
  start, mid, end, typed = special_layout(tokenizer, pieces_b is not None)
  ids, types = [], []
  for i, a in enumerate(pieces_a):
    if pieces_b is None:
      a = a[:max_length - len(start) - len(end)]
      row, t = np.concatenate([start, a, end]), np.zeros(len(start) + len(a) + len(end))
    else:
      b = pieces_b[i]
      n_a, n_b = truncate_pair(len(a), len(b), max_length - len(start) - len(mid) - len(end))
      head = len(start) + n_a + len(mid)
      row = np.concatenate([start, a[:n_a], mid, b[:n_b], end])
      t = np.concatenate([np.zeros(head), np.full(n_b + len(end), 1 if typed else 0)])
    ids.append(row.astype(np.int32))
    types.append(t.astype(np.int32))
  return ids, types


def bucket(n: int, limit: int) -> int:
  """n rounded up to the next of 16, 24, 32, 48, 64, 96, ... (2^k and 1.5 * 2^k), at most
  `limit` (`tasks.encoding.bucket`, which fine-tuning's batches share)."""
  return bucket_length(n, limit, MIN_LENGTH)


def pad_batch(rows: list[np.ndarray], length: int, rows_to: int, pad_id: int) -> np.ndarray:
  out = np.full((rows_to, length), pad_id, np.int32)
  for i, r in enumerate(rows):
    out[i, :len(r)] = r
  return out


def run_batched(fn: Callable, params, ids: list[np.ndarray], types: list[np.ndarray],
                pad_id: int, max_positions: int, batch_size: int, extra=None,
                per_token: bool = False):
  """fn(params, ids_BxL, mask_BxL, types_BxL[, extra_BxP]) over `batch_size` rows at a time,
  the texts sorted by length and each batch padded to its own bucketed length L_b.

  Returns (fn's outputs for all N texts as numpy in the caller's order, padding rows dropped,
  L = the largest L_b). per_token: fn's outputs are [B, L_b, ...] and are padded with zeros
  to [N, L, ...]; otherwise outputs have no length axis.

  extra: an optional per-text array [N, P] passed as a fourth argument (e.g. positions).
  """
  n_texts = len(ids)
  order = np.argsort([-len(r) for r in ids], kind="stable")
  outs, lengths = [], []
  for s in range(0, n_texts, batch_size):
    chunk = order[s:s + batch_size]
    n = len(chunk)
    rows_ids = [ids[i] for i in chunk]
    length = bucket(max(len(r) for r in rows_ids), max_positions)
    rows_to = batch_size if n == batch_size else min(batch_size, 1 << (n - 1).bit_length())
    ids_BxL = pad_batch(rows_ids, length, rows_to, pad_id)
    types_BxL = pad_batch([types[i] for i in chunk], length, rows_to, 0)
    mask_BxL = (np.arange(length)[None] < np.array(
        [len(r) for r in rows_ids] + [1] * (rows_to - n))[:, None]).astype(np.int32)
    args = (params, ids_BxL, mask_BxL, types_BxL)
    if extra is not None:
      e = np.zeros((rows_to,) + extra.shape[1:], extra.dtype)
      e[:n] = extra[chunk]
      args += (e,)
    out = jax.device_get(fn(*args))
    outs.append(jax.tree_util.tree_map(lambda x, n=n: np.asarray(x)[:n], out))
    lengths.append(length)
  longest = max(lengths)
  if per_token:
    outs = [jax.tree_util.tree_map(
        lambda x: np.pad(x, [(0, 0), (0, longest - x.shape[1])] + [(0, 0)] * (x.ndim - 2)), o)
        for o in outs]
  inverse = np.empty(n_texts, np.int64)
  inverse[order] = np.arange(n_texts)
  merged = jax.tree_util.tree_map(lambda *xs: np.concatenate(xs)[inverse], *outs)
  return merged, longest


def pack_plan(lengths: Sequence[int], max_positions: int, batch_size: int):
  """(row_len, rows_per_call, [(index_T, row_T, offset_T)] per call): texts of these lengths
  first-fit (longest first) into rows of row_len, rows numbered within their call. A call
  holds about as many tokens as `batch_size` texts of MIN_LENGTH."""
  lengths = np.asarray(lengths)
  row_len = bucket(max(int(lengths.max()), MIN_PACKED_ROW), max_positions)
  row_T, offset_T, rows = first_fit(lengths, row_len)
  per_call = max(1, batch_size * MIN_LENGTH // row_len)
  calls = []
  for start in range(0, rows, per_call):
    index_T = np.flatnonzero((row_T >= start) & (row_T < start + per_call))
    calls.append((index_T, row_T[index_T] - start, offset_T[index_T]))
  return row_len, per_call, calls


def run_packed(fn: Callable, params, ids: list[np.ndarray], types: list[np.ndarray],
               pad_id: int, max_positions: int, batch_size: int, position_offset: int = 0):
  """fn(params, ids, mask, types, position_ids, segment_ids) -> per-token outputs [R, L, ...]
  over texts packed several per row (`pack_plan`); returns each text's outputs [n_i, ...] (its
  own tokens only), in the caller's order. position_offset: added to every position (RoBERTa
  counts from pad_token_id + 1)."""
  lengths = [len(r) for r in ids]
  row_len, per_call, calls = pack_plan(lengths, max_positions, batch_size)
  longest = max(lengths)
  inputs = {"input_ids": pad_batch(ids, longest, len(ids), pad_id),
            "token_type_ids": pad_batch(types, longest, len(ids), 0),
            "attention_mask": (np.arange(longest)[None] < np.array(lengths)[:, None]).astype(
                np.int32)}
  out: list = [None] * len(ids)
  for index_T, row_T, offset_T in calls:
    used = int(row_T.max()) + 1
    rows_to = min(per_call, 1 << (used - 1).bit_length())  # a partial call: a power of two
    b = place(inputs, index_T, row_T, offset_T, row_len, rows_to)  # as fine-tuning packs
    res = np.asarray(jax.device_get(fn(
        params, b["input_ids"], b["attention_mask"], b["token_type_ids"],
        b["position_ids"] + position_offset, b["segment_ids"])))
    for t, r, o in zip(index_T, row_T, offset_T):
      out[t] = res[r, o:o + lengths[t]]
  return out
