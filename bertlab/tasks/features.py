"""Fixed-length model inputs for sequence(-pair) and token classification.

Both builders take a `tokenizers.Tokenizer` whose post-processor adds the family's special
tokens, and return a dict of numpy arrays with a leading example axis N and sequence axis L
(= max_seq_len), right-padded: input_ids, token_type_ids, attention_mask [N, L] int32 plus
the labels. SQuAD windows are in `squad_features`.
"""

from collections.abc import Sequence

import numpy as np

from bertlab.tasks.conll import TaggedSentence
from bertlab.tasks.encoding import (num_special_tokens, pad_id, rows, segment_ids, select, stack,
                                    truncate_pair, untruncated)
from bertlab.tasks.glue import TextExample

# Label of positions that carry no loss: special tokens, padding, non-first sub-tokens.
# The token-classification loss must skip it (the convention of HF and PyTorch).
IGNORE_INDEX = -100


def _budget(tokenizer, max_seq_len: int, pair: bool) -> int:
  budget = max_seq_len - num_special_tokens(tokenizer, pair)
  if budget < 1:
    raise ValueError(
        f"expected max_seq_len larger than the {num_special_tokens(tokenizer, pair)} special "
        f"tokens of a {'pair' if pair else 'single segment'}; found max_seq_len={max_seq_len}.")
  return budget


def classification_features(examples: Sequence[TextExample], tokenizer, max_seq_len: int,
                            regression: bool = False,
                            pad_token: str = "[PAD]") -> dict[str, np.ndarray]:
  """Tokenizes sentences or sentence pairs for a [CLS] classifier or regressor.

  A pair longer than max_seq_len is cut from the end of its longer segment first (BERT's
  `_truncate_seq_pair`); a single sentence is cut at the end.

  Args:
    examples: `TextExample`s (text_b None for single-sentence tasks).
    tokenizer: a `tokenizers.Tokenizer` with a post-processor for special tokens.
    max_seq_len: L.
    regression: labels are float scores (STS-B) rather than class ids.
    pad_token: the vocabulary's padding token.

  Returns:
    input_ids, token_type_ids, attention_mask [N, L] int32; label [N]: int32 class ids
    (-1 when unlabelled) or float32 scores (nan when unlabelled).
  """
  pad = pad_id(tokenizer, pad_token)
  tokenizer = untruncated(tokenizer)
  fulls = tokenizer.encode_batch(
      [e.text_a if e.text_b is None else (e.text_a, e.text_b) for e in examples])
  out = []
  for example, full in zip(examples, fulls):
    seq_T = segment_ids(full)
    if example.text_b is None:
      budget = _budget(tokenizer, max_seq_len, pair=False)
      spans = {0: (0, budget)}
    else:
      budget = _budget(tokenizer, max_seq_len, pair=True)
      len_a, len_b = truncate_pair(int(np.sum(seq_T == 0)), int(np.sum(seq_T == 1)), budget)
      spans = {0: (0, len_a), 1: (0, len_b)}
    row = rows(full, select(full, spans), max_seq_len, pad)
    if regression:
      row["label"] = np.float32(np.nan if example.label is None else example.label)
    else:
      row["label"] = np.int32(-1 if example.label is None else example.label)
    out.append(row)
  return stack(out)


def token_classification_features(sentences: Sequence[TaggedSentence], tokenizer,
                                  max_seq_len: int, label_names: Sequence[str],
                                  pad_token: str = "[PAD]") -> dict[str, np.ndarray]:
  """Tokenizes pre-split words and aligns word tags to sub-tokens.

  The first sub-token of each word carries the word's tag id; the word's other sub-tokens,
  special tokens and padding carry IGNORE_INDEX, so each word is scored once, as in the BERT
  paper's NER setup. Sentences longer than max_seq_len lose their last sub-tokens; words
  left with none are not predicted (`predictions_to_tags` fills them with 'O').

  Args:
    sentences: `TaggedSentence`s (tokens are the words).
    tokenizer: a `tokenizers.Tokenizer` with a post-processor for special tokens.
    max_seq_len: L.
    label_names: tag of each label id, e.g. `conll.CONLL2003_NER_TAGS`.

  Returns:
    input_ids, token_type_ids, attention_mask, labels, word_ids [N, L] int32; word_ids is
    the word index of each sub-token (-1 for special tokens and padding).
  """
  pad = pad_id(tokenizer, pad_token)
  label_id = {name: i for i, name in enumerate(label_names)}
  tokenizer = untruncated(tokenizer)
  budget = _budget(tokenizer, max_seq_len, pair=False)
  fulls = tokenizer.encode_batch([list(s.tokens) for s in sentences], is_pretokenized=True)
  out = []
  for sentence, full in zip(sentences, fulls):
    unknown = sorted(set(sentence.tags) - set(label_id))
    if unknown:
      raise ValueError(
          f"{sentence.guid}: expected tags among label_names {list(label_names)}; found "
          f"{unknown}. Build label_names with conll.tag_names(sentences) for other tag sets.")
    keep_K = select(full, {0: (0, budget)})
    row = rows(full, keep_K, max_seq_len, pad)
    words_K = np.array([-1 if w is None else w for w in full.word_ids], np.int64)[keep_K]
    # A word's first sub-token is where its word id differs from the previous token's.
    first_K = (words_K >= 0) & (words_K != np.concatenate([[-1], words_K[:-1]]))
    tag_ids_W = np.array([label_id[t] for t in sentence.tags], np.int32)
    row["labels"] = np.full(max_seq_len, IGNORE_INDEX, np.int32)
    row["labels"][np.flatnonzero(first_K)] = tag_ids_W[words_K[first_K]]
    row["word_ids"] = np.full(max_seq_len, -1, np.int32)
    row["word_ids"][:keep_K.size] = words_K
    out.append(row)
  return stack(out)


def predictions_to_tags(pred_ids_NxL, word_ids_NxL, num_words: Sequence[int],
                        label_names: Sequence[str]) -> list[list[str]]:
  """Maps sub-token predictions back to one tag per word, for `entity_metrics.entity_f1`.

  Each word takes the prediction at its first sub-token; words with no sub-token in the
  features (truncated, or dropped by the normalizer) get 'O'.

  Args:
    pred_ids_NxL: [N, L] predicted label ids (argmax of the logits).
    word_ids_NxL: [N, L] the features' word_ids.
    num_words: words per sentence, e.g. `[len(s.tokens) for s in sentences]`.
    label_names: tag of each label id.
  """
  pred_ids_NxL = np.asarray(pred_ids_NxL)
  word_ids_NxL = np.asarray(word_ids_NxL)
  if pred_ids_NxL.shape != word_ids_NxL.shape or len(num_words) != pred_ids_NxL.shape[0]:
    raise ValueError(
        f"predictions_to_tags: expected predictions and word_ids of one shape [N, L] and N "
        f"sentence lengths; found {pred_ids_NxL.shape}, {word_ids_NxL.shape} and "
        f"{len(num_words)}.")
  tags = []
  for pred_L, words_L, n in zip(pred_ids_NxL, word_ids_NxL, num_words):
    sentence = ["O"] * n
    seen = set()
    for pred, word in zip(pred_L.tolist(), words_L.tolist()):
      if 0 <= word < n and word not in seen:
        seen.add(word)
        sentence[word] = label_names[pred]
    tags.append(sentence)
  return tags
