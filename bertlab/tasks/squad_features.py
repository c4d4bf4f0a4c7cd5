"""SQuAD model inputs: doc-stride windows over long contexts, and answers from span logits.

Each question is paired with windows of its context ([CLS] question [SEP] window [SEP] for
BERT), as google-research/bert's `run_squad.py` does: windows of up to
max_seq_len − |question| − specials context tokens, each starting `doc_stride` tokens after
the previous one, until one reaches the end. A window's labels are the token positions of
the answer's first and last sub-tokens, or the [CLS] position 0 when the answer is not
wholly inside it (and always for unanswerable questions). Character offsets are kept per
token so a predicted span maps back to the exact text of the original context.
"""

import dataclasses
from collections.abc import Sequence

import numpy as np

from bertlab.tasks.encoding import (num_special_tokens, pad_id, rows, segment_ids, select, stack,
                                    untruncated)
from bertlab.tasks.squad import SquadExample

CLS_INDEX = 0


@dataclasses.dataclass(frozen=True)
class SquadFeatures:
  """F windows over N examples, L = max_seq_len.

  input_ids, token_type_ids, attention_mask: [F, L] int32, the model inputs.
  start_positions, end_positions: [F] int32 answer token positions (CLS_INDEX if none).
  example_index: [F] int32, the example each window belongs to.
  offsets: [F, L, 2] int32 character [start, end) in the context, -1 for non-context tokens.
  token_is_max_context: [F, L] bool, whether this window gives the token its most central
    position among the windows that hold it (only such tokens may start an answer).
  qids, contexts: [N] question ids and context strings of the examples.
  """
  input_ids: np.ndarray
  token_type_ids: np.ndarray
  attention_mask: np.ndarray
  start_positions: np.ndarray
  end_positions: np.ndarray
  example_index: np.ndarray
  offsets: np.ndarray
  token_is_max_context: np.ndarray
  qids: tuple[str, ...]
  contexts: tuple[str, ...]

  def __len__(self) -> int:
    return self.input_ids.shape[0]

  def model_inputs(self) -> dict[str, np.ndarray]:
    """The arrays a QA model trains on: inputs and start/end positions, each [F, ...]."""
    return {k: getattr(self, k) for k in ("input_ids", "token_type_ids", "attention_mask",
                                          "start_positions", "end_positions")}


def window_starts(num_tokens: int, budget: int, doc_stride: int) -> list[tuple[int, int]]:
  """(start, length) of each window over `num_tokens` context tokens (run_squad.py's loop)."""
  windows, start = [], 0
  while True:
    length = min(num_tokens - start, budget)
    windows.append((start, length))
    if start + length >= num_tokens:
      return windows
    start += min(length, doc_stride)


def _answer_tokens(offsets_Cx2: np.ndarray, start_char: int,
                   end_char: int) -> tuple[int, int] | None:
  """First and last context tokens overlapping characters [start_char, end_char), or None."""
  # Overlap, not containment, so whitespace at either end of an answer is ignored.
  first = int(np.searchsorted(offsets_Cx2[:, 1], start_char, side="right"))
  last = int(np.searchsorted(offsets_Cx2[:, 0], end_char, side="left")) - 1
  return (first, last) if first <= last else None


def squad_features(examples: Sequence[SquadExample], tokenizer, max_seq_len: int = 384,
                   doc_stride: int = 128, max_query_len: int = 64,
                   pad_token: str = "[PAD]") -> SquadFeatures:
  """Builds windows and answer labels (from each example's first answer).

  Args:
    examples: `SquadExample`s.
    tokenizer: a `tokenizers.Tokenizer` whose post-processor puts a special token first.
    max_seq_len: L; doc_stride: tokens between window starts; max_query_len: question
      tokens kept (BERT's defaults 384, 128, 64).
  """
  pad = pad_id(tokenizer, pad_token)
  budget = max_seq_len - max_query_len - num_special_tokens(tokenizer, pair=True)
  if budget < 1 or doc_stride < 1:
    raise ValueError(
        f"squad_features: expected max_seq_len > max_query_len + special tokens and "
        f"doc_stride ≥ 1; found max_seq_len={max_seq_len}, max_query_len={max_query_len}, "
        f"doc_stride={doc_stride}. Lower max_query_len or raise max_seq_len.")
  tokenizer = untruncated(tokenizer)
  fulls = tokenizer.encode_batch([(e.question, e.context) for e in examples])
  out = []
  for n, (example, full) in enumerate(zip(examples, fulls)):
    if full.sequence_ids[CLS_INDEX] is not None:
      raise ValueError(
          "squad_features: expected the tokenizer's post-processor to put a special token "
          f"([CLS]) at position {CLS_INDEX}; found {full.tokens[:2]}. Set a post-processor "
          "(e.g. tokenizers.processors.TemplateProcessing) for question/context pairs.")
    seq_T = segment_ids(full)
    n_query = min(int(np.sum(seq_T == 0)), max_query_len)
    # Offsets after post-processing: RoBERTa's processor trims their leading spaces.
    ctx_offsets_Cx2 = np.asarray(full.offsets, np.int64).reshape(-1, 2)[seq_T == 1]
    n_ctx = len(ctx_offsets_Cx2)
    doc_budget = max_seq_len - n_query - num_special_tokens(tokenizer, pair=True)
    windows = window_starts(n_ctx, doc_budget, doc_stride)

    answer = None
    if example.answers and not example.is_impossible and n_ctx:
      a = example.answers[0]
      answer = _answer_tokens(ctx_offsets_Cx2, a.start, a.start + len(a.text))

    # Score of token g in window (start, length): min(left, right context) + 0.01 * length;
    # the first window with the best score owns it (run_squad.py's _check_is_max_context).
    best_score_C = np.full(n_ctx, -np.inf)
    best_window_C = np.zeros(n_ctx, np.int64)
    for w, (start, length) in enumerate(windows):
      k = np.arange(length)
      score = np.minimum(k, length - 1 - k) + 0.01 * length
      better = score > best_score_C[start:start + length]
      best_score_C[start:start + length][better] = score[better]
      best_window_C[start:start + length][better] = w

    for w, (start, length) in enumerate(windows):
      keep_K = select(full, {0: (0, n_query), 1: (start, start + length)})
      row = rows(full, keep_K, max_seq_len, pad)
      ctx_pos_K = np.flatnonzero(seq_T[keep_K] == 1)  # feature positions of the window's tokens
      offsets_Lx2 = np.full((max_seq_len, 2), -1, np.int32)
      offsets_Lx2[ctx_pos_K] = ctx_offsets_Cx2[start:start + length]
      max_ctx_L = np.zeros(max_seq_len, bool)
      max_ctx_L[ctx_pos_K] = best_window_C[start:start + length] == w
      start_pos = end_pos = CLS_INDEX
      if answer is not None and start <= answer[0] and answer[1] < start + length:
        start_pos = int(ctx_pos_K[answer[0] - start])
        end_pos = int(ctx_pos_K[answer[1] - start])
      row.update(start_positions=np.int32(start_pos), end_positions=np.int32(end_pos),
                 example_index=np.int32(n), offsets=offsets_Lx2, token_is_max_context=max_ctx_L)
      out.append(row)
  arrays = stack(out)
  return SquadFeatures(**arrays, qids=tuple(e.qid for e in examples),
                       contexts=tuple(e.context for e in examples))


def postprocess_squad(features: SquadFeatures, start_logits, end_logits, n_best: int = 20,
                      max_answer_len: int = 30, *, version_2: bool = False,
                      null_threshold: float = 0.0) -> dict[str, str]:
  """Picks each question's answer text from span logits over all its windows.

  A span (i, j) is valid when both ends are context tokens, i ≤ j < i + max_answer_len, and
  the window is i's max-context window; its score is start_logits[i] + end_logits[j], and
  only the n_best highest start and end logits of each window are paired. For SQuAD v2.0 the
  null score is the smallest start[CLS] + end[CLS] over the windows, and '' is predicted
  when null score − best span score > null_threshold (run_squad.py's rule).

  Args:
    features: the `SquadFeatures` the logits were computed on.
    start_logits, end_logits: [F, L] floats.

  Returns:
    {question_id: answer text}: a slice of the original context, or '' (no valid span, or
    the null answer won).
  """
  start_FxL = np.asarray(start_logits, np.float64)
  end_FxL = np.asarray(end_logits, np.float64)
  expected = features.input_ids.shape
  if start_FxL.shape != expected or end_FxL.shape != expected:
    raise ValueError(
        f"postprocess_squad: expected start and end logits shaped [F, L] = {expected}, like "
        f"the features; found {start_FxL.shape} and {end_FxL.shape}.")
  windows_of = {}
  for f, n in enumerate(features.example_index.tolist()):
    windows_of.setdefault(n, []).append(f)

  answers = {}
  for n, qid in enumerate(features.qids):
    best_score, best_text, null_score = -np.inf, "", np.inf
    for f in windows_of.get(n, []):
      s_L, e_L = start_FxL[f], end_FxL[f]
      offsets_Lx2 = features.offsets[f]
      is_ctx_L = offsets_Lx2[:, 0] >= 0
      null_score = min(null_score, s_L[CLS_INDEX] + e_L[CLS_INDEX])
      # Stable sorts: among equal logits the earlier position wins, deterministically.
      top_starts = np.argsort(-s_L, kind="stable")[:n_best]
      top_ends = np.argsort(-e_L, kind="stable")[:n_best]
      starts_I = top_starts[is_ctx_L[top_starts] & features.token_is_max_context[f, top_starts]]
      ends_J = top_ends[is_ctx_L[top_ends]]
      length_IxJ = ends_J[None, :] - starts_I[:, None] + 1
      score_IxJ = np.where((length_IxJ >= 1) & (length_IxJ <= max_answer_len),
                           s_L[starts_I][:, None] + e_L[ends_J][None, :], -np.inf)
      if score_IxJ.size and score_IxJ.max() > best_score:
        i, j = np.unravel_index(np.argmax(score_IxJ), score_IxJ.shape)
        best_score = score_IxJ[i, j]
        span = offsets_Lx2[starts_I[i], 0], offsets_Lx2[ends_J[j], 1]
        best_text = features.contexts[n][span[0]:span[1]]
    if version_2 and null_score - best_score > null_threshold:
      best_text = ""
    answers[qid] = best_text
  return answers
