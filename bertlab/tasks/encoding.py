"""Shared plumbing for feature builders: special tokens, truncation, and padded rows.

Feature builders encode each example once, whole, with the tokenizer's own special-token
layout ([CLS] A [SEP] B [SEP] for BERT, <s> A </s></s> B </s> for RoBERTa), then keep the
special tokens and a slice of each segment, found by the encoding's `sequence_ids`. Slicing
one encoding, instead of re-tokenizing truncated text, leaves every sub-token, type id and
character offset exactly as the tokenizer produced them. (Encoding segments separately and
joining them with `Tokenizer.post_process` is no shortcut: in tokenizers 0.23 the first
segment's `sequence_ids` come back None from a pair template.)

Written against `tokenizers.Tokenizer` (a fast tokenizer with offsets); a transformers
`PreTrainedTokenizerFast` exposes one as `.backend_tokenizer`.
"""

import numpy as np


def pad_id(tokenizer, pad_token: str) -> int:
  """Vocabulary id of `pad_token`, with an error that suggests the usual alternatives."""
  token_id = tokenizer.token_to_id(pad_token)
  if token_id is None:
    raise ValueError(
        f"expected the padding token {pad_token!r} in the tokenizer's vocabulary; found no "
        "such token. Pass pad_token= as the vocabulary spells it ('[PAD]' for BERT, ALBERT "
        "and ELECTRA WordPiece, '<pad>' for RoBERTa and SentencePiece).")
  return token_id


def untruncated(tokenizer):
  """`tokenizer`, or a copy of it without truncation and padding if either is enabled:
  the builders need whole encodings to slice, and must not change the caller's object."""
  if tokenizer.truncation is None and tokenizer.padding is None:
    return tokenizer
  copy = type(tokenizer).from_str(tokenizer.to_str())
  copy.no_truncation()
  copy.no_padding()
  return copy


def segment_ids(encoding) -> np.ndarray:
  """[T] int64: 0 or 1 for tokens of the first or second segment, -1 for special tokens."""
  return np.array([-1 if s is None else s for s in encoding.sequence_ids], dtype=np.int64)


def num_special_tokens(tokenizer, pair: bool) -> int:
  """How many special tokens the post-processor adds to one segment or a pair."""
  processor = tokenizer.post_processor
  return 0 if processor is None else processor.num_special_tokens_to_add(pair)


def truncate_pair(len_a: int, len_b: int, budget: int) -> tuple[int, int]:
  """Segment lengths after BERT's pair truncation: drop the last token of the longer
  segment (of B on a tie) until the pair fits `budget` tokens.

  Closed form of google-research/bert's `_truncate_seq_pair` loop: a short segment is kept
  whole; when both are long they end up equal, A taking the odd token.
  """
  if len_a + len_b <= budget:
    return len_a, len_b
  short = min(len_a, len_b)
  if 2 * short <= budget:
    return (budget - short, short) if len_a >= len_b else (short, budget - short)
  return budget - budget // 2, budget // 2


def select(encoding, spans: dict[int, tuple[int, int]]) -> np.ndarray:
  """Positions of `encoding` to keep: every special token, and for each segment s the
  tokens ranked [start, stop) within s, given as `spans[s] = (start, stop)`.

  Returns:
    [K] int64 indices into the post-processed encoding, in their original order.
  """
  seq_T = segment_ids(encoding)
  keep_T = seq_T == -1
  for s, (start, stop) in spans.items():
    in_s_T = seq_T == s
    rank_T = np.cumsum(in_s_T) - 1
    keep_T |= in_s_T & (rank_T >= start) & (rank_T < stop)
  return np.flatnonzero(keep_T)


def rows(encoding, keep_K: np.ndarray, max_seq_len: int, pad: int) -> dict[str, np.ndarray]:
  """input_ids, token_type_ids and attention_mask [max_seq_len] int32 of the kept positions,
  padded on the right."""
  n = keep_K.size
  if n > max_seq_len:
    raise AssertionError(f"{n} tokens kept for max_seq_len={max_seq_len}")
  out = {
      "input_ids": np.full(max_seq_len, pad, np.int32),
      "token_type_ids": np.zeros(max_seq_len, np.int32),
      "attention_mask": np.zeros(max_seq_len, np.int32),
  }
  out["input_ids"][:n] = np.asarray(encoding.ids, np.int32)[keep_K]
  out["token_type_ids"][:n] = np.asarray(encoding.type_ids, np.int32)[keep_K]
  out["attention_mask"][:n] = 1
  return out


def bucket(n: int, limit: int, smallest: int = 16, fine: bool = True) -> int:
  """n rounded up to the next of 16, 24, 32, 48, 64, 96, ... (2^k and 1.5 * 2^k, from
  `smallest`; fine=False: powers of two only), at most `limit`. Fine buckets pad a row by at
  most a third, at the price of twice as many compiled shapes."""
  b = smallest
  while b < n:
    b = b * 3 // 2 if fine and b & (b - 1) == 0 else (b * 4 // 3 if fine else b * 2)
  return min(b, limit)


def stack(feature_rows: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  """Stacks per-example dicts of arrays into one dict of [N, ...] arrays."""
  if not feature_rows:
    raise ValueError("expected at least one example to build features from; found none.")
  return {k: np.stack([r[k] for r in feature_rows]) for k in feature_rows[0]}
