"""Token-classification training batches with several sentences per row.

A CoNLL-2003 batch of 32 sentences holds ~600 real tokens; padded to its longest sentence it
computes ~1,600 (what the transformers example script computes), cut to a bucketed length
more. Packed first-fit-decreasing into rows of `row_len` positions it computes ~700-900, and
nothing else changes: each sentence attends only to itself (`segment_ids`: 1, 2, ... per
sentence, 0 on padding; `Encoder` turns them into a block-diagonal mask), its positions
restart at 0, and the loss is the mean over the same labelled tokens. Losses equal the padded
batch's to float rounding (tests/tasks/test_packed_batches.py); dropout draws other masks.

Evaluation packs the whole split at once (`eval_plan`): first-fit over every sentence, then
`eval_batch_size` rows per predict call, and `unpack_logits` puts each sentence's logits back
at its own positions; predictions equal the padded ones to float rounding.

Only per-token tasks pack: a sentence-level head reads one [CLS] per row.
"""

from __future__ import annotations

import numpy as np

from bertlab.tasks.features import IGNORE_INDEX


def first_fit(lengths_B: np.ndarray, row_len: int) -> tuple[np.ndarray, np.ndarray, int]:
  """(row_B, offset_B, rows): each sentence's row and start, longest placed first, each in
  the first row with room."""
  lengths_B = np.asarray(lengths_B)
  if lengths_B.max(initial=0) > row_len:
    raise ValueError(f"first_fit: a sentence of {int(lengths_B.max())} tokens does not fit a "
                     f"row of {row_len}; expected row_len >= the longest sentence.")
  row_B, offset_B, fill = np.zeros_like(lengths_B), np.zeros_like(lengths_B), []
  for i in np.argsort(-lengths_B, kind="stable"):
    r = next((r for r, used in enumerate(fill) if used + lengths_B[i] <= row_len), len(fill))
    if r == len(fill):
      fill.append(0)
    row_B[i], offset_B[i] = r, fill[r]
    fill[r] += lengths_B[i]
  return row_B, offset_B, len(fill)


def rows_needed(lengths_SxB: np.ndarray, row_len: int) -> np.ndarray:
  """[S] the rows `first_fit` packs each batch of sentences into."""
  return np.array([first_fit(lengths_B, row_len)[2] for lengths_B in lengths_SxB])


def packed_batch(inputs: dict[str, np.ndarray], index_B: np.ndarray, row_len: int,
                 num_rows: int) -> dict[str, np.ndarray]:
  """Sentences `index_B` of `inputs` (input_ids, attention_mask, token_type_ids, labels
  [N, L]) packed into [num_rows, row_len] arrays, plus position_ids and segment_ids."""
  lengths_B = inputs["attention_mask"][index_B].sum(1)
  row_B, offset_B, rows = first_fit(lengths_B, row_len)
  if rows > num_rows:
    raise ValueError(f"packed_batch: these sentences need {rows} rows of {row_len}; found "
                     f"room for {num_rows}.")
  return place(inputs, index_B, row_B, offset_B, row_len, num_rows)


def place(inputs: dict[str, np.ndarray], index_B: np.ndarray, row_B: np.ndarray,
          offset_B: np.ndarray, row_len: int, num_rows: int) -> dict[str, np.ndarray]:
  """Sentences `index_B` written at (row_B, offset_B) of [num_rows, row_len] arrays: the keys
  of `inputs` among input_ids, attention_mask, token_type_ids, labels, plus position_ids and
  segment_ids (1, 2, ... in `index_B` order within a row, 0 on padding)."""
  lengths_B = inputs["attention_mask"][index_B].sum(1)
  fill = {k: v for k, v in {"input_ids": 0, "attention_mask": 0, "token_type_ids": 0,
                            "labels": IGNORE_INDEX}.items() if k in inputs}
  out = {k: np.full((num_rows, row_len), v, inputs[k].dtype) for k, v in fill.items()}
  out["position_ids"] = np.zeros((num_rows, row_len), np.int32)
  out["segment_ids"] = np.zeros((num_rows, row_len), np.int32)
  segment = np.zeros(num_rows, np.int32)
  for b, i in enumerate(index_B):
    n, r, o = int(lengths_B[b]), row_B[b], offset_B[b]
    for k in fill:
      out[k][r, o:o + n] = inputs[k][i, :n]
    segment[r] += 1
    out["position_ids"][r, o:o + n] = np.arange(n)
    out["segment_ids"][r, o:o + n] = segment[r]
  return out


def eval_plan(lengths_N: np.ndarray, row_len: int, max_rows: int,
              multiple: int = 1) -> tuple[int, list[tuple]]:
  """The whole split packed for prediction: (rows per call, [(index_B, row_B, offset_B)] per
  call), rows numbered within the call; every sentence in exactly one call. The calls share
  one shape: as few as `max_rows` allows, their rows balanced (a multiple of `multiple`, the
  data-parallel devices) so a small split does not compute a whole batch of empty rows."""
  row_N, offset_N, rows = first_fit(np.asarray(lengths_N), row_len)
  calls = -(-rows // max_rows)
  per_call = min(max_rows, -(-rows // calls // multiple) * multiple) if rows else multiple
  plan = []
  for start in range(0, rows, per_call):
    index_B = np.flatnonzero((row_N >= start) & (row_N < start + per_call))
    plan.append((index_B, row_N[index_B] - start, offset_N[index_B]))
  return per_call, plan


def unpack_logits(logits_RxLxC: np.ndarray, lengths_B: np.ndarray, row_B: np.ndarray,
                  offset_B: np.ndarray, width: int, fill: float = -1e4) -> np.ndarray:
  """[B, width, C]: each packed sentence's logits back at positions 0..n-1 of its own row;
  the positions past its end hold `fill` (padding, never chosen)."""
  out = np.full((len(lengths_B), width, logits_RxLxC.shape[-1]), fill, logits_RxLxC.dtype)
  for b, (n, r, o) in enumerate(zip(lengths_B, row_B, offset_B)):
    out[b, :n] = logits_RxLxC[r, o:o + n]
  return out
