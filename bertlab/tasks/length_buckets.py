"""Which padded lengths to compile fine-tuning steps for, chosen from the data's lengths.

Each batch is cut to its longest row rounded up to one of a few lengths (a compiled shape
each). Powers of two (32, 64, 128) waste work on a length histogram like CoNLL-2003's, whose
batches of 32 random sentences are 36-65 tokens long: 1.31x the tokens of cutting every batch
exactly, and a whole compile of length 128 for the 3 batches of 65. Here the lengths are
multiples of 8 chosen from the batches' own maxima to minimise

    sum over batches of the chosen length  +  compile_steps x longest x (number of lengths)

that is, padded work plus compiles priced as `compile_steps` steps at the longest length
(one compile of a small BERT's train step on CPU costs about ten of its steps). On those
CoNLL batches: lengths (56, 72), 1.15x the exact tokens with two compiles.
"""

from __future__ import annotations

import numpy as np


def choose_lengths(batch_max_N: np.ndarray, limit: int, multiple: int = 8,
                   compile_steps: float = 10.0) -> tuple[int, ...]:
  """Sorted lengths (multiples of `multiple`, at most `limit`) covering every batch maximum
  in `batch_max_N`, minimising padded work plus compiles as the module docstring says."""
  batch_max_N = np.asarray(batch_max_N)
  if batch_max_N.size == 0:
    raise ValueError("choose_lengths: expected at least one batch length; found none.")
  if batch_max_N.max() > limit:
    raise ValueError(f"choose_lengths: a batch of {int(batch_max_N.max())} tokens exceeds the "
                     f"limit {limit}; raise max_seq_len or truncate the inputs.")
  rounded = np.minimum(-(-np.maximum(batch_max_N, 1) // multiple) * multiple, limit)
  cand, count = np.unique(rounded, return_counts=True)
  penalty = compile_steps * cand[-1]
  # best[j]: the cheapest cover of cand[:j+1] whose longest length is cand[j]; prev: the
  # length below it (-1: none).
  best, prev = np.zeros(len(cand)), np.full(len(cand), -1)
  for j in range(len(cand)):
    options = [(0.0 if i < 0 else best[i]) + cand[j] * count[i + 1:j + 1].sum() + penalty
               for i in range(-1, j)]
    k = int(np.argmin(options))
    best[j], prev[j] = options[k], k - 1
  chosen, j = [], len(cand) - 1
  while j >= 0:
    chosen.append(int(cand[j]))
    j = prev[j]
  return tuple(sorted(chosen))


def assign(batch_max_N: np.ndarray, lengths: tuple[int, ...]) -> np.ndarray:
  """[N] the shortest of `lengths` that holds each batch maximum."""
  lengths_K = np.asarray(lengths)
  index = np.searchsorted(lengths_K, np.asarray(batch_max_N), side="left")
  if (index >= len(lengths_K)).any():
    raise ValueError(f"assign: a batch of {int(np.max(batch_max_N))} tokens is longer than "
                     f"every length {tuple(lengths)}.")
  return lengths_K[index]
