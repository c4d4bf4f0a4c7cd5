"""Token-level MLM (BERT, RoBERTa), whole-word MLM (BERT wwm) and ELECTRA's generator masking.

All take one sequence and share one signature, so a config can swap them:
`fn(input_ids, special_mask, word_starts=None, *, rng, vocab, max_predictions, ...)`.
Shapes: input_ids int [L], special_mask bool [L], word_starts bool [L]; outputs as
`masking_core.pack` (input_ids int32 [L], mlm_positions / mlm_ids int32 [P], mlm_weights f32 [P]).
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


def mask_tokens(input_ids, special_mask, word_starts=None, *, rng: np.random.Generator,
                vocab: MaskingVocab, max_predictions: int, mask_prob: float = 0.15,
                mask_token_prob: float = 0.8, random_token_prob: float = 0.1,
                budget_rule: str = "bert") -> dict:
  """BERT's token-level MLM: mask a uniformly random set of sub-tokens.

  google-research/bert `create_masked_lm_predictions` without whole-word masking: shuffle
  the maskable positions, take the first `num_to_predict`; each one independently becomes
  [MASK] (80 %), a random token (10 %) or stays (10 %). `word_starts` is ignored (accepted
  so every strategy has one signature). RoBERTa: same call, optionally
  `budget_rule="fairseq"` (fairseq rounds the count at random; see `num_to_predict`).
  """
  ids, special, _ = check_inputs(input_ids, special_mask, word_starts)
  check_probs(mask_prob, mask_token_prob, random_token_prob, max_predictions)
  n = num_to_predict(ids, special, vocab, mask_prob, max_predictions, budget_rule, rng)
  positions = np.sort(rng.choice(np.flatnonzero(~special), n, replace=False))
  actions = draw_actions(rng, n, mask_token_prob, random_token_prob)
  return pack(ids, corrupt(ids, positions, actions, vocab, rng), positions, max_predictions)


def mask_whole_words(input_ids, special_mask, word_starts=None, *, rng: np.random.Generator,
                     vocab: MaskingVocab, max_predictions: int, mask_prob: float = 0.15,
                     mask_token_prob: float = 0.8, random_token_prob: float = 0.1,
                     budget_rule: str = "bert") -> dict:
  """BERT's whole-word masking: mask every sub-token of randomly chosen words.

  As google-research/bert (`do_whole_word_mask=True`): words are visited in random order and
  taken while fewer than `num_to_predict` tokens are masked; a word that would overshoot the
  budget is skipped (so a sequence may end a little under budget). The 80/10/10 decision is
  drawn per sub-token, not per word, as in the reference.
  """
  ids, special, starts_flag = check_inputs(input_ids, special_mask, word_starts, need_words=True)
  check_probs(mask_prob, mask_token_prob, random_token_prob, max_predictions)
  n = num_to_predict(ids, special, vocab, mask_prob, max_predictions, budget_rule, rng)
  starts, ends = word_bounds(special, starts_flag)
  chosen, count = [], 0
  for w in rng.permutation(starts.size):
    if count >= n:
      break
    length = int(ends[w] - starts[w])
    if count + length > n:
      continue
    chosen.append(np.arange(starts[w], ends[w]))
    count += length
  positions = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)
  actions = draw_actions(rng, positions.size, mask_token_prob, random_token_prob)
  return pack(ids, corrupt(ids, positions, actions, vocab, rng), positions, max_predictions)


def mask_electra(input_ids, special_mask, word_starts=None, *, rng: np.random.Generator,
                 vocab: MaskingVocab, max_predictions: int, mask_prob: float = 0.15,
                 mask_token_prob: float = 0.85, random_token_prob: float = 0.0,
                 sample_with_replacement: bool = False) -> dict:
  """ELECTRA's generator input (google-research/electra `pretrain_helpers.mask`).

  `num_to_predict` positions (BERT's rule; `mask_prob` 0.25 for ELECTRA-large), each [MASK]
  with probability 0.85 and otherwise kept; no random tokens (the generator supplies the
  replacements). Tokens already equal to [MASK] are not candidates, as in the reference.

  The reference draws positions WITH replacement (`tf.random.categorical`), so a sequence
  may predict one position twice and masks fewer distinct tokens (about 1.5 duplicates per
  sequence at 20 of 128). We draw without replacement by default, as the paper describes;
  `sample_with_replacement=True` reproduces the reference (duplicates stay as separate
  weighted slots; a duplicated position is [MASK] if any of its slots says so).
  """
  ids, special, _ = check_inputs(input_ids, special_mask, word_starts)
  check_probs(mask_prob, mask_token_prob, random_token_prob, max_predictions)
  not_candidate = special | (ids == vocab.mask_id)
  n = num_to_predict(ids, not_candidate, vocab, mask_prob, max_predictions, "bert", rng)
  candidates = np.flatnonzero(~not_candidate)
  positions = np.sort(rng.choice(candidates, n, replace=sample_with_replacement))
  actions = draw_actions(rng, n, mask_token_prob, random_token_prob)
  return pack(ids, corrupt(ids, positions, actions, vocab, rng), positions, max_predictions)
