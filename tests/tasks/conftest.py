"""A tiny uncased BERT WordPiece tokenizer, built in memory, shared by the feature tests."""

import pytest
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Some words split into sub-words (playing -> play ##ing, broncos -> bronco ##s) so that
# alignment and offsets are exercised, not only whole words.
_WORDS = """the a an of in on at to and was who which what when where did team won game
super bowl denver bronco panthers carolina february levi stadium santa clara california
football league season champion title defeated national american afc nfc john smith
lives new york city paris france visited play is it not good bad movie great very s
""".split()
_PIECES = ["##s", "##ing", "##ed", "##'", "1", "2", "0", "5", "##0", "##1", "##6", ",", ".",
           "?", "'", "-", "(", ")", ":"]


def build_tokenizer() -> Tokenizer:
  vocab = {t: i for i, t in enumerate(_SPECIALS + _WORDS + _PIECES)}
  tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
  tok.normalizer = normalizers.BertNormalizer(lowercase=True)
  tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
  tok.post_processor = processors.TemplateProcessing(
      single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
      special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
  return tok


@pytest.fixture(scope="session")
def tokenizer() -> Tokenizer:
  return build_tokenizer()
