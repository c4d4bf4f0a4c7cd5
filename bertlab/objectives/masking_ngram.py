"""ALBERT's whole-word n-gram masking (google-research/albert `create_masked_lm_predictions`).

Lan et al. 2020 §4.1: "n-gram masking with the length of each n-gram mask selected randomly,
p(n) = (1/n) / sum_k (1/k)", n <= 3, i.e. 6/11, 3/11, 2/11. Shapes as `masking_token`.
"""

import numpy as np

from bertlab.objectives.masking_core import (
    MaskingVocab,
    check_inputs,
    check_probs,
    corrupt,
    draw_actions,
    num_to_predict,
    pack,
    word_bounds,
)


def ngram_probs(max_ngram: int = 3, favor_shorter: bool = True) -> np.ndarray:
  """float64 [max_ngram]: p(n) for n = 1..max_ngram, proportional to 1/n (reversed if not
  `favor_shorter`, as the reference's `favor_shorter_ngram=False`)."""
  p = 1.0 / np.arange(1, max_ngram + 1)
  p /= p.sum()
  return p if favor_shorter else p[::-1].copy()


def select_ngrams(word_lengths: np.ndarray, budget: int, rng: np.random.Generator,
                  max_ngram: int = 3, favor_shorter: bool = True) -> list[tuple[int, int]]:
  """Chooses n-grams of whole words the way ALBERT's reference does.

  Args:
    word_lengths: int [W] sub-tokens per word, words in sequence order.
    budget: tokens to mask at most (`num_to_predict`).
  Returns:
    (first word, number of words) per chosen n-gram, in the order chosen.

  Reference behaviour kept: every word is a candidate start, visited in random order; n is
  drawn from `ngram_probs`; an n-gram running past the last word is cut there (the slice
  `cand_indexes[idx:idx+n]`); if it would overshoot the budget, shorter n-grams from the same
  start are tried down to n = 1 and, failing that, the start is skipped; an n-gram touching
  an already masked token is skipped (not shortened). The loop stops once the budget is met.
  The reference draws n from numpy's global RNG; we use `rng`.
  """
  n_words = word_lengths.size
  probs = ngram_probs(max_ngram, favor_shorter)
  token_ends = np.cumsum(word_lengths)  # tokens in words [0, k) = token_ends[k-1]
  covered = np.zeros(n_words, bool)
  chosen, count = [], 0

  def n_tokens(first, n):
    last = min(first + n, n_words)
    return int(token_ends[last - 1] - (token_ends[first - 1] if first else 0))

  # One n per visited start, drawn up front (same distribution, one numpy call).
  draws = rng.choice(max_ngram, size=n_words, p=probs) + 1
  for first, n in zip(rng.permutation(n_words).tolist(), draws.tolist()):
    if count >= budget:
      break
    while n > 1 and count + n_tokens(first, n) > budget:
      n -= 1
    size = n_tokens(first, n)
    if count + size > budget:
      continue
    n = min(n, n_words - first)
    if covered[first:first + n].any():
      continue
    covered[first:first + n] = True
    chosen.append((first, n))
    count += size
  return chosen


def mask_ngrams(input_ids, special_mask, word_starts=None, *, rng: np.random.Generator,
                vocab: MaskingVocab, max_predictions: int, mask_prob: float = 0.15,
                mask_token_prob: float = 0.8, random_token_prob: float = 0.1,
                max_ngram: int = 3, favor_shorter: bool = True,
                budget_rule: str = "bert") -> dict:
  """ALBERT MLM input: mask whole-word n-grams (n <= `max_ngram`, p(n) ∝ 1/n).

  Words run over maskable tokens in order (as the reference's `cand_indexes`, which skips
  [CLS]/[SEP]), so an n-gram may join the last word of segment A to the first of B, as the
  reference allows. The 80/10/10 decision is drawn per sub-token (the reference's inner loop
  calls `rng.random()` per index), not per n-gram.
  """
  ids, special, starts_flag = check_inputs(input_ids, special_mask, word_starts, need_words=True)
  check_probs(mask_prob, mask_token_prob, random_token_prob, max_predictions)
  if max_ngram < 1:
    raise ValueError(f"max_ngram must be >= 1; got {max_ngram}.")
  n = num_to_predict(ids, special, vocab, mask_prob, max_predictions, budget_rule, rng)
  starts, ends = word_bounds(special, starts_flag)
  chosen = select_ngrams(ends - starts, n, rng, max_ngram, favor_shorter)
  parts = [np.arange(starts[w], ends[w]) for first, k in chosen for w in range(first, first + k)]
  positions = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
  actions = draw_actions(rng, positions.size, mask_token_prob, random_token_prob)
  return pack(ids, corrupt(ids, positions, actions, vocab, rng), positions, max_predictions)
