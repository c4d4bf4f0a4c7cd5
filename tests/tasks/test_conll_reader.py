import numpy as np
import pytest
import tensorflow_datasets as tfds

from bertlab.tasks.conll import (CONLL2003_NER_TAGS, TaggedSentence, read_conll,
                                 read_conll_tfds, tag_names)

IOB2_FILE = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""

# The same two sentences as the original (IOB1) release writes them.
IOB1_FILE = """-DOCSTART- -X- -X- O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER"""


def test_reads_iob2_columns_and_skips_docstart(tmp_path):
  path = tmp_path / "train.txt"
  path.write_text(IOB2_FILE)
  first, second = read_conll(path)
  assert first == TaggedSentence(
      "train.txt:3", ("EU", "rejects", "German", "call"), ("B-ORG", "O", "B-MISC", "O"),
      ("NNP", "VBZ", "JJ", "NN"), ("B-NP", "B-VP", "B-NP", "I-NP"))
  assert second.tokens == ("Peter", "Blackburn") and second.tags == ("B-PER", "I-PER")
  assert second.guid == "train.txt:8"


def test_iob1_is_converted_and_refused_as_iob2(tmp_path):
  path = tmp_path / "eng.train"
  path.write_text(IOB1_FILE)
  expected = read_conll(_write(tmp_path, "ref.txt", IOB2_FILE))
  converted = read_conll(path, scheme="iob1")
  assert [(s.tokens, s.tags, s.chunks) for s in converted] == [
      (s.tokens, s.tags, s.chunks) for s in expected]
  with pytest.raises(ValueError, match=r"eng.train:3: expected IOB2 .* found 'I-ORG' after "
                                       r"the sentence start.*scheme='iob1'"):
    read_conll(path)


def _write(tmp_path, name, text):
  path = tmp_path / name
  path.write_text(text)
  return path


def test_two_columns_and_errors(tmp_path):
  sentences = read_conll(_write(tmp_path, "two.txt", "Paris B-LOC\nis O\n\n\nit O\n"))
  assert [(s.tokens, s.tags, s.pos) for s in sentences] == [
      (("Paris", "is"), ("B-LOC", "O"), None), (("it",), ("O",), None)]
  assert tag_names(sentences) == ("O", "B-LOC", "I-LOC")
  with pytest.raises(ValueError, match=r"bad.txt:2: expected 4 columns, like the first row"):
    read_conll(_write(tmp_path, "bad.txt", "EU NNP B-NP B-ORG\nrejects O\n"))
  with pytest.raises(ValueError, match=r"tag.txt:1: token 1: expected a tag 'O', 'B-TYPE'"):
    read_conll(_write(tmp_path, "tag.txt", "EU B-ORG\nrejects PER\n"))
  with pytest.raises(ValueError, match="expected scheme in"):
    read_conll(_write(tmp_path, "x.txt", "a O\n"), scheme="bio")


def test_tfds_records_become_tag_names():
  records = [{"tokens": np.array(["EU", "rejects"]), "pos": np.array([22, 42]),
              "chunks": np.array([11, 21]), "ner": np.array([3, 0])}]
  with tfds.testing.mock_data(as_data_source_fn=lambda self, split, **kw: records):
    (sentence,) = read_conll_tfds("train")
  assert sentence == TaggedSentence("conll2003/train:0", ("EU", "rejects"), ("B-ORG", "O"),
                                    ("NNP", "VBZ"), ("B-NP", "B-VP"))


def test_tfds_builder_uses_our_tag_order():
  features = tfds.builder("conll2003").info.features
  assert tuple(features["ner"].feature.names) == CONLL2003_NER_TAGS


def test_tfds_corrupt_record_is_reported():
  records = [{"tokens": np.array(["EU"]), "pos": np.array([22]), "chunks": np.array([11]),
              "ner": np.array([3, 0])}]
  with tfds.testing.mock_data(as_data_source_fn=lambda self, split, **kw: records):
    with pytest.raises(ValueError, match=r"record 0: expected 1 'ner' ids"):
      read_conll_tfds("validation")
