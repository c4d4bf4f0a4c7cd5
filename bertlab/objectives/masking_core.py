"""Pieces shared by every masking strategy: vocabulary info, budget, words, corruption, packing.

Everything here runs on the host in numpy, one sequence at a time (see `masking.py` for why).
Shapes: L = sequence length (padded), P = `max_predictions` (prediction slots per sequence).
"""

import dataclasses
import functools
import math

import numpy as np

# Actions applied to a selected position (80/10/10 and its variants).
MASK, RANDOM, KEEP = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class MaskingVocab:
  """What masking needs to know about the vocabulary.

  Attributes:
    vocab_size: number of token ids; random replacements are drawn from [0, vocab_size).
    mask_id: id of [MASK] (`<mask>` for RoBERTa).
    pad_id: id of padding; tokens equal to it do not count towards the sequence length
      that sets the masking budget.
    special_ids: ids never drawn as random replacement tokens ([CLS], [SEP], [UNK], ...).
      `mask_id` and `pad_id` are excluded too, listed here or not.
  """

  vocab_size: int
  mask_id: int
  pad_id: int
  special_ids: tuple[int, ...] = ()

  def __post_init__(self):
    object.__setattr__(self, "special_ids", tuple(int(i) for i in self.special_ids))
    named = [("mask_id", self.mask_id), ("pad_id", self.pad_id)]
    named += [(f"special_ids[{k}]", v) for k, v in enumerate(self.special_ids)]
    for name, value in named:
      if not 0 <= value < self.vocab_size:
        raise ValueError(f"MaskingVocab.{name} = {value} is outside [0, vocab_size = "
                         f"{self.vocab_size}); pass the ids of the tokenizer's vocabulary.")

  @functools.cached_property
  def replacement_ids(self) -> np.ndarray:
    """int32 [V'] ids a random replacement may take: all ids but the special ones."""
    banned = np.asarray(sorted({self.mask_id, self.pad_id, *self.special_ids}), np.int64)
    ids = np.setdiff1d(np.arange(self.vocab_size, dtype=np.int64), banned).astype(np.int32)
    if ids.size == 0:
      raise ValueError("MaskingVocab leaves no id to draw random replacements from: every id "
                       "is special. Check vocab_size and special_ids.")
    return ids

  def random_tokens(self, rng: np.random.Generator, n: int) -> np.ndarray:
    """int32 [n] ids drawn uniformly from `replacement_ids`."""
    ids = self.replacement_ids
    return ids[rng.integers(0, ids.size, size=n)]


def check_inputs(input_ids, special_mask, word_starts=None, *, need_words: bool = False):
  """Validates one sequence's inputs; returns them as (int32 [L], bool [L], bool [L] | None)."""
  input_ids = np.asarray(input_ids)
  special_mask = np.asarray(special_mask)
  if input_ids.ndim != 1 or not np.issubdtype(input_ids.dtype, np.integer):
    raise ValueError(f"input_ids must be an integer array of shape [L] (one sequence); got "
                     f"dtype {input_ids.dtype}, shape {input_ids.shape}. Mask a batch row by row.")
  if special_mask.shape != input_ids.shape or special_mask.dtype != bool:
    raise ValueError(f"special_mask must be bool with input_ids' shape {input_ids.shape}; got "
                     f"dtype {special_mask.dtype}, shape {special_mask.shape}.")
  if word_starts is None:
    if need_words:
      raise ValueError("this strategy masks whole words: pass word_starts (bool [L], True on "
                       "the first sub-token of each word) from the instance builder.")
  else:
    word_starts = np.asarray(word_starts)
    if word_starts.shape != input_ids.shape or word_starts.dtype != bool:
      raise ValueError(f"word_starts must be bool with input_ids' shape {input_ids.shape}; got "
                       f"dtype {word_starts.dtype}, shape {word_starts.shape}.")
  return input_ids.astype(np.int32), special_mask, word_starts


def check_probs(mask_prob: float, mask_token_prob: float, random_token_prob: float,
                max_predictions: int) -> None:
  if not 0.0 <= mask_prob <= 1.0:
    raise ValueError(f"mask_prob must be in [0, 1]; got {mask_prob}.")
  if min(mask_token_prob, random_token_prob) < 0 or mask_token_prob + random_token_prob > 1:
    raise ValueError(f"mask_token_prob ({mask_token_prob}) and random_token_prob "
                     f"({random_token_prob}) must be >= 0 and sum to <= 1 (the rest is kept).")
  if max_predictions < 1:
    raise ValueError(f"max_predictions must be >= 1; got {max_predictions}.")


def num_to_predict(input_ids: np.ndarray, special_mask: np.ndarray, vocab: MaskingVocab,
                   mask_prob: float, max_predictions: int, rule: str = "bert",
                   rng: np.random.Generator | None = None) -> int:
  """How many tokens to mask in one sequence, as each reference computes it.

  rule:
    "bert": min(P, max(1, round(n_real * mask_prob))), n_real = non-pad tokens including
      [CLS]/[SEP] (google-research/bert, albert and electra; Python's round, half to even).
    "spanbert": min(P, ceil(n_candidates * mask_prob)), n_candidates = maskable tokens
      (facebookresearch/SpanBERT masks the block before adding [CLS]/[SEP]).
    "fairseq": min(P, int(n_real * mask_prob + u)), u ~ U[0, 1) (RoBERTa's MaskTokensDataset:
      rounding at random keeps the expected count exactly n_real * mask_prob).
  The result never exceeds the number of maskable tokens.
  """
  n_real = int(np.count_nonzero(input_ids != vocab.pad_id))
  n_cand = int(np.count_nonzero(~special_mask))
  if rule == "bert":
    n = max(1, int(round(n_real * mask_prob)))
  elif rule == "spanbert":
    n = math.ceil(n_cand * mask_prob)
  elif rule == "fairseq":
    if rng is None:
      raise ValueError("budget rule 'fairseq' rounds at random: pass rng.")
    n = int(n_real * mask_prob + rng.random())
  else:
    raise ValueError(f"unknown budget rule {rule!r}; expected 'bert', 'spanbert' or 'fairseq'.")
  return min(n, max_predictions, n_cand)


def word_bounds(special_mask: np.ndarray, word_starts: np.ndarray):
  """Whole words over the maskable tokens, in order.

  A word starts at a maskable token flagged in `word_starts`, or right after a special token
  (a continuation piece never joins a word across [SEP]); it runs up to the next word start
  or special token. Returns (starts, ends) int [W], ends exclusive.
  """
  L = special_mask.shape[0]
  prev_special = np.concatenate([[True], special_mask[:-1]])
  is_start = ~special_mask & (word_starts | prev_special)
  starts = np.flatnonzero(is_start)
  stops = np.flatnonzero(special_mask | is_start)
  nxt = np.searchsorted(stops, starts, side="right")
  ends = np.where(nxt < stops.size, stops[np.minimum(nxt, stops.size - 1)], L)
  return starts, ends


def draw_actions(rng: np.random.Generator, n: int, mask_token_prob: float,
                 random_token_prob: float) -> np.ndarray:
  """int [n] actions MASK / RANDOM / KEEP with the given probabilities (one uniform each)."""
  u = rng.random(n)
  return np.where(u < mask_token_prob, MASK,
                  np.where(u < mask_token_prob + random_token_prob, RANDOM, KEEP))


def corrupt(input_ids: np.ndarray, positions: np.ndarray, actions: np.ndarray,
            vocab: MaskingVocab, rng: np.random.Generator) -> np.ndarray:
  """Applies `actions` (int [n]) at `positions` (int [n]); returns a corrupted copy, int32 [L].

  Each RANDOM position gets its own uniformly drawn non-special id.
  """
  out = input_ids.copy()
  out[positions[actions == MASK]] = vocab.mask_id
  rand_pos = positions[actions == RANDOM]
  out[rand_pos] = vocab.random_tokens(rng, rand_pos.size)
  return out


def pack(input_ids: np.ndarray, corrupted: np.ndarray, positions: np.ndarray,
         max_predictions: int) -> dict:
  """Fixed-shape MLM outputs; `positions` sorted ascending, at most P of them.

  Returns input_ids int32 [L] (corrupted), mlm_positions int32 [P], mlm_ids int32 [P]
  (original ids), mlm_weights float32 [P] (1 on real slots, 0 on padding slots, whose
  position and id are 0, as google-research/bert writes them).
  """
  n = positions.size
  if n > max_predictions:
    raise AssertionError(f"{n} predictions exceed max_predictions = {max_predictions}")
  slots = np.zeros(max_predictions, np.int32)
  mlm_positions, mlm_ids = slots.copy(), slots.copy()
  mlm_positions[:n] = positions
  mlm_ids[:n] = input_ids[positions]
  mlm_weights = np.zeros(max_predictions, np.float32)
  mlm_weights[:n] = 1.0
  return {"input_ids": corrupted.astype(np.int32), "mlm_positions": mlm_positions,
          "mlm_ids": mlm_ids, "mlm_weights": mlm_weights}
