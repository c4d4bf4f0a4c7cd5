"""SpanBERT's geometric span masking with span-boundary (SBO) targets.

Follows facebookresearch/SpanBERT `PairWithSpanMaskingScheme.mask` + `span_masking`, run as
the paper's command line does (`--schemes ["pair_span"] --span-lower 1 --span-upper 10
--geometric-p 0.2 --replacement-method span --max-pair-targets 15 --endpoints external`).
Shapes: L = sequence length, P = max_predictions.
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

_DRAWS = 32  # span lengths / anchors drawn per numpy call; each attempt uses one of each


def span_length_probs(geometric_p: float = 0.2, lower: int = 1, upper: int = 10) -> np.ndarray:
  """float64 [upper - lower + 1]: p(len = k) ∝ p (1 - p)^(k - lower), k = lower..upper.

  The reference truncates the geometric at `upper` and renormalises (no mass piled on 10);
  for p = 0.2 the mean is 3.797 words, the paper's "mean 3.8".
  """
  if not 0.0 < geometric_p <= 1.0 or not 1 <= lower <= upper:
    raise ValueError(f"need 0 < geometric_p <= 1 and 1 <= span_lower <= span_upper; got "
                     f"p={geometric_p}, lower={lower}, upper={upper}.")
  k = np.arange(lower, upper + 1)
  pmf = geometric_p * (1.0 - geometric_p) ** (k - lower)
  return pmf / pmf.sum()


def select_spans(special_mask: np.ndarray, word_starts: np.ndarray, budget: int,
                 rng: np.random.Generator, geometric_p: float = 0.2, span_lower: int = 1,
                 span_upper: int = 10):
  """Samples spans of whole words until `budget` tokens are masked.

  Returns (masked bool [L], spans) with spans the list of (start, end, drawn length in words),
  end inclusive, in the order sampled, before merging. Reference behaviour kept: each attempt
  draws a length (in words) and an anchor uniformly over maskable tokens (so long words are
  likelier anchors); an anchor already masked is rejected and both are redrawn; the span
  starts at the anchor's word start and takes whole words rightwards, stopping at the length,
  at a special token (the reference's block end), or when the budget is met, even in the
  middle of a word (so the last span may split a word). A span may run into tokens masked
  earlier: it is kept, and `merge_spans` joins them.
  """
  L = special_mask.shape[0]
  starts, ends = word_bounds(special_mask, word_starts)
  word_of = np.searchsorted(starts, np.arange(L), side="right") - 1
  candidates = np.flatnonzero(~special_mask)
  lengths = np.arange(span_lower, span_upper + 1)
  probs = span_length_probs(geometric_p, span_lower, span_upper)
  masked = np.zeros(L, bool)
  count, spans, draws = 0, [], iter(())
  while count < budget:
    try:
      span_len, anchor = next(draws)
    except StopIteration:
      draws = zip(rng.choice(lengths, size=_DRAWS, p=probs).tolist(),
                  candidates[rng.integers(0, candidates.size, size=_DRAWS)].tolist())
      continue
    if masked[anchor]:
      continue
    w = word_of[anchor]
    first = last = int(starts[w])
    num_words = 0
    while True:
      for i in range(starts[w], ends[w]):
        if count >= budget:
          break
        count += not masked[i]
        masked[i] = True
        last = i
      num_words += 1
      contiguous = w + 1 < starts.size and starts[w + 1] == ends[w]
      if num_words >= span_len or count >= budget or not contiguous:
        break
      w += 1
    spans.append((first, last, span_len))
  return masked, spans


def merge_spans(spans) -> np.ndarray:
  """Joins overlapping OR adjacent spans (the reference's `merge_intervals`), so each span's
  boundaries are unmasked tokens. `spans`: (start, end, ...) tuples, end inclusive.
  Returns int [S, 2] (start, end) sorted by start."""
  merged = []
  for s, e, *_ in sorted(spans):
    if merged and merged[-1][1] + 1 >= s:
      merged[-1][1] = max(merged[-1][1], e)
    else:
      merged.append([s, e])
  return np.asarray(merged, np.int64).reshape(-1, 2)


def mask_spans(input_ids, special_mask, word_starts=None, *, rng: np.random.Generator,
               vocab: MaskingVocab, max_predictions: int, mask_prob: float = 0.15,
               mask_token_prob: float = 0.8, random_token_prob: float = 0.1,
               geometric_p: float = 0.2, span_lower: int = 1, span_upper: int = 10,
               max_pair_targets: int = 15, budget_rule: str = "bert") -> dict:
  """SpanBERT MLM + SBO input: geometric spans of whole words, 80/10/10 per span.

  After `select_spans` and `merge_spans`, one draw per merged span decides whether all its
  tokens become [MASK] (80 %), random tokens (10 %, one draw per token) or stay (10 %), as the
  reference's `--replacement-method span`.

  Returns `pack`'s fields plus, per prediction slot (int32 [P] unless said):
    sbo_left, sbo_right: positions x(s-1) and x(e+1) just outside the slot's merged span
      (clipped into [0, L-1] where the span touches the array's edge; weight 0 there);
    sbo_rel: the slot's 0-based offset in its span;
    sbo_weights float32 [P]: 1 where the slot is an SBO target. As the reference
      (`--endpoints external`), spans whose boundary is not a real token of the block, here a
      special token or outside the array, get no SBO target (they still get MLM), and only
      the first `max_pair_targets` (15) tokens of a span are targets (`pad_to_len` cuts the
      rest).

  Budget: `budget_rule="bert"` (default, the project's one rule) or "spanbert" to reproduce
  the reference's ceil(0.15 * maskable tokens). The reference has no cap on predictions; we
  cap at P. It draws random replacements from the corpus' unigram distribution
  (`np.random.choice(dataset.tokens)`); we draw uniformly over non-special ids, as BERT.
  """
  ids, special, starts_flag = check_inputs(input_ids, special_mask, word_starts, need_words=True)
  check_probs(mask_prob, mask_token_prob, random_token_prob, max_predictions)
  if max_pair_targets < 1:
    raise ValueError(f"max_pair_targets must be >= 1; got {max_pair_targets}.")
  L = ids.shape[0]
  n = num_to_predict(ids, special, vocab, mask_prob, max_predictions, budget_rule, rng)
  masked, spans = select_spans(special, starts_flag, n, rng, geometric_p, span_lower, span_upper)
  merged = merge_spans(spans)
  positions = np.flatnonzero(masked)
  span_of = np.searchsorted(merged[:, 0], positions, side="right") - 1
  span_actions = draw_actions(rng, merged.shape[0], mask_token_prob, random_token_prob)
  corrupted = corrupt(ids, positions, span_actions[span_of], vocab, rng)
  out = pack(ids, corrupted, positions, max_predictions)

  s, e = merged[span_of, 0], merged[span_of, 1]
  inside = (s >= 1) & (e <= L - 2)
  left, right = np.maximum(s - 1, 0), np.minimum(e + 1, L - 1)
  has_bounds = inside & ~special[left] & ~special[right]
  rel = positions - s
  k = positions.size
  for name, values in (("sbo_left", left), ("sbo_right", right), ("sbo_rel", rel)):
    out[name] = np.zeros(max_predictions, np.int32)
    out[name][:k] = values
  out["sbo_weights"] = np.zeros(max_predictions, np.float32)
  out["sbo_weights"][:k] = has_bounds & (rel < max_pair_targets)
  return out
