import itertools

import numpy as np
import pytest

from bertlab.tasks.conll import TaggedSentence
from bertlab.tasks.encoding import truncate_pair
from bertlab.tasks.entity_metrics import entity_f1
from bertlab.tasks.features import (IGNORE_INDEX, classification_features, predictions_to_tags,
                                    token_classification_features)
from bertlab.tasks.glue import TextExample

NER = ("O", "B-ORG", "I-ORG", "B-LOC", "I-LOC")


def ids(tokenizer, tokens):
  return [tokenizer.token_to_id(t) for t in tokens]


def _bert_truncate_seq_pair(len_a, len_b, budget):
  """google-research/bert run_classifier.py's loop, on lengths."""
  while len_a + len_b > budget:
    if len_a > len_b:
      len_a -= 1
    else:
      len_b -= 1
  return len_a, len_b


def test_truncate_pair_matches_bert_loop():
  for a, b, budget in itertools.product(range(12), range(12), range(1, 14)):
    assert truncate_pair(a, b, budget) == _bert_truncate_seq_pair(a, b, budget), (a, b, budget)


def test_single_sentence_layout_and_padding(tokenizer):
  out = classification_features([TextExample("x", "The movie is very good!", None, 1)],
                                tokenizer, max_seq_len=10)
  pad = tokenizer.token_to_id("[PAD]")
  expected = ids(tokenizer, ["[CLS]", "the", "movie", "is", "very", "good", "[UNK]", "[SEP]"])
  np.testing.assert_array_equal(out["input_ids"], [expected + [pad, pad]])
  np.testing.assert_array_equal(out["attention_mask"], [[1] * 8 + [0, 0]])
  np.testing.assert_array_equal(out["token_type_ids"], np.zeros((1, 10)))
  assert out["label"].dtype == np.int32 and out["label"].tolist() == [1]


def test_pair_truncates_longer_segment_first(tokenizer):
  long_a = "the game was very good and the movie was bad"  # 10 tokens
  out = classification_features(
      [TextExample("x", long_a, "who won?", 0), TextExample("y", "it", None, None)],
      tokenizer, max_seq_len=12)
  # Budget 12 − 3 = 9: B (3 tokens) kept whole, A cut to 6.
  expected = ids(tokenizer, ["[CLS]", "the", "game", "was", "very", "good", "and", "[SEP]",
                             "who", "won", "?", "[SEP]"])
  np.testing.assert_array_equal(out["input_ids"][0], expected)
  np.testing.assert_array_equal(out["token_type_ids"][0], [0] * 8 + [1] * 4)
  assert out["label"].tolist() == [0, -1]  # unlabelled -> -1
  assert out["attention_mask"][1].sum() == 3  # [CLS] it [SEP]


def test_regression_labels_are_float(tokenizer):
  out = classification_features([TextExample("x", "good", "bad", 3.8),
                                 TextExample("y", "good", "bad", None)], tokenizer, 8,
                                regression=True)
  assert out["label"].dtype == np.float32
  assert out["label"][0] == pytest.approx(3.8) and np.isnan(out["label"][1])


def test_errors(tokenizer):
  with pytest.raises(ValueError, match="Pass pad_token= as the vocabulary spells it"):
    classification_features([TextExample("x", "good", None, 0)], tokenizer, 8, pad_token="<pad>")
  with pytest.raises(ValueError, match="expected max_seq_len larger than the 3 special"):
    classification_features([TextExample("x", "good", "bad", 0)], tokenizer, 3)
  with pytest.raises(ValueError, match=r"s1: expected tags among label_names .* \['B-PER'\]"):
    token_classification_features([TaggedSentence("s1", ("john",), ("B-PER",))], tokenizer, 8,
                                  NER)


SENTENCE = TaggedSentence("s", ("Denver", "Broncos", "played", "in", "Levi's", "Stadium"),
                          ("B-ORG", "I-ORG", "O", "O", "B-LOC", "I-LOC"))


def test_first_subtoken_gets_the_word_label(tokenizer):
  out = token_classification_features([SENTENCE], tokenizer, max_seq_len=14, label_names=NER)
  # [CLS] denver bronco ##s play ##ed in levi ' s stadium [SEP] [PAD] [PAD]
  expected = ids(tokenizer, ["[CLS]", "denver", "bronco", "##s", "play", "##ed", "in", "levi",
                             "'", "s", "stadium", "[SEP]", "[PAD]", "[PAD]"])
  np.testing.assert_array_equal(out["input_ids"][0], expected)
  x = IGNORE_INDEX
  np.testing.assert_array_equal(out["labels"][0], [x, 1, 2, x, 0, x, 0, 3, x, x, 4, x, x, x])
  np.testing.assert_array_equal(out["word_ids"][0], [-1, 0, 1, 1, 2, 2, 3, 4, 4, 4, 5, -1, -1, -1])


def test_predictions_map_back_to_words(tokenizer):
  out = token_classification_features([SENTENCE], tokenizer, max_seq_len=14, label_names=NER)
  # Gold labels at first sub-tokens, noise elsewhere: the noise must be ignored.
  preds = np.where(out["labels"] == IGNORE_INDEX, 3, out["labels"])
  tags = predictions_to_tags(preds, out["word_ids"], [6], NER)
  assert tags == [list(SENTENCE.tags)]
  assert entity_f1([SENTENCE.tags], tags)["f1"] == 1.0


def test_truncated_words_come_back_as_o(tokenizer):
  out = token_classification_features([SENTENCE], tokenizer, max_seq_len=8, label_names=NER)
  # 6 sub-tokens fit: denver bronco ##s play ##ed in; words 4 and 5 are lost.
  np.testing.assert_array_equal(out["word_ids"][0], [-1, 0, 1, 1, 2, 2, 3, -1])
  tags = predictions_to_tags(np.maximum(out["labels"], 0), out["word_ids"], [6], NER)
  assert tags == [["B-ORG", "I-ORG", "O", "O", "O", "O"]]
  with pytest.raises(ValueError, match="expected predictions and word_ids of one shape"):
    predictions_to_tags(out["labels"][:, :3], out["word_ids"], [6], NER)
