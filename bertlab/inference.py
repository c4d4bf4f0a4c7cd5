"""Texts -> padded id arrays in each family's layout, and a jit'ed forward over them in
bucketed shapes (what `bertlab.notebook` runs).

Layouts: [CLS] A [SEP] (B [SEP]) with token types 0.. 1.. (BERT, ALBERT, ELECTRA, SpanBERT);
<s> A </s> or <s> A </s></s> B </s> with every type 0 (RoBERTa, byte BPE). Pairs are truncated
as BERT does (`tasks.encoding.truncate_pair`).

Shapes are bucketed so that a notebook compiles a handful of programs, not one per call:
lengths round up to a power of two (at least 16, at most the model's positions) and the
last, partial batch to a power of two rows. Padding rows attend to one token (an all-padding
row would attend to nothing) and are dropped from the results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import numpy as np

from bertlab.tasks.encoding import truncate_pair

MIN_LENGTH = 16


def special_layout(tokenizer) -> tuple[list[int], list[int], list[int], bool]:
  """(before A, between A and B, after the last segment, whether B has token type 1)."""
  cls, sep = tokenizer.cls_id, tokenizer.sep_id
  if tokenizer.kind == "bpe":  # RoBERTa: <s> A </s></s> B </s>, one token type
    return [cls], [sep, sep], [sep], False
  return [cls], [sep], [sep], True


def build_rows(tokenizer, pieces_a: Sequence[np.ndarray], pieces_b=None, max_length: int = 512):
  """(ids, types) lists of int32 arrays: each text with the family's special tokens,
  truncated to max_length tokens."""
  start, mid, end, typed = special_layout(tokenizer)
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
  """n rounded up to a power of two, at least MIN_LENGTH, at most `limit`."""
  return min(max(MIN_LENGTH, 1 << max(n - 1, 0).bit_length()), limit)


def pad_batch(rows: list[np.ndarray], length: int, rows_to: int, pad_id: int) -> np.ndarray:
  out = np.full((rows_to, length), pad_id, np.int32)
  for i, r in enumerate(rows):
    out[i, :len(r)] = r
  return out


def run_batched(fn: Callable, params, ids: list[np.ndarray], types: list[np.ndarray],
                pad_id: int, max_positions: int, batch_size: int, extra=None):
  """fn(params, ids_BxL, mask_BxL, types_BxL[, extra_BxP]) over `batch_size` rows at a time,
  every batch padded to one bucketed length L.

  Returns (fn's outputs for all N texts as numpy, padding rows dropped, L). Per-token
  outputs [N, L, ...] are the caller's to cut to the longest text.

  extra: an optional per-text int array [N, P] passed as a fourth argument (e.g. positions).
  """
  longest = max(len(r) for r in ids)
  length = bucket(longest, max_positions)
  outs = []
  for s in range(0, len(ids), batch_size):
    chunk = slice(s, s + batch_size)
    n = len(ids[chunk])
    rows_to = batch_size if n == batch_size else min(batch_size, 1 << (n - 1).bit_length())
    ids_BxL = pad_batch(ids[chunk], length, rows_to, pad_id)
    types_BxL = pad_batch(types[chunk], length, rows_to, 0)
    mask_BxL = (np.arange(length)[None] < np.array(
        [len(r) for r in ids[chunk]] + [1] * (rows_to - n))[:, None]).astype(np.int32)
    args = (params, ids_BxL, mask_BxL, types_BxL)
    if extra is not None:
      e = np.zeros((rows_to,) + extra.shape[1:], extra.dtype)
      e[:n] = extra[chunk]
      args += (e,)
    out = jax.device_get(fn(*args))
    outs.append(jax.tree_util.tree_map(lambda x, n=n: np.asarray(x)[:n], out))
  return jax.tree_util.tree_map(lambda *xs: np.concatenate(xs), *outs), length
