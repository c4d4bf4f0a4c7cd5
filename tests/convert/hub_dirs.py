"""Hugging Face directories as the hub ships them, written by the tests (random weights):
a WordPiece tokenizer.json with stored Fixed padding and truncation, tokenizer_config.json,
and sentence-transformers' modules.json / pooling files."""

from __future__ import annotations

import json

import tokenizers as hf
import transformers as T
from hf_random import randomize

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = """the a of in on at to and was who lives new york city paris france visited is it
not good bad movie great very cat sat mat dog ran park ada lovelace london worked with
charles babbage engine she he they capital river seine flows through where did café naïve
école straße 東 京 你 好 世 界 🤗 🚀 hello world""".split()
CHARS = sorted({c for w in WORDS for c in w} | set("ABCDEFGHIJKLMNOPQRSTUVWXYZ.,?!'-"))
HARD = [
    "Héllo wörld, the naïve café! ÉCOLE Straße",
    "東京 is big 你好世界",
    "emoji 🤗🚀 ok",
    "Ada Lovelace lives in London.",
    "  lots   of\twhitespace  ",
]
LONG = " ".join(["the cat sat on the mat and the dog ran in the park ."] * 20)
PADDED_TO = 128


def vocab() -> list[str]:
  return SPECIALS + list(dict.fromkeys(WORDS + [w.capitalize() for w in WORDS] + CHARS
                                       + ["##" + c for c in CHARS]))


def write_tokenizer(path, *, lowercase: bool = True, config: dict | None = None,
                    single: str = "[CLS] $A [SEP]", pair: str = "[CLS] $A [SEP] $B:1 [SEP]:1"):
  """tokenizer.json (BERT normalizer, the given template, padding Fixed 128 and truncation
  128 stored, as sentence-transformers' directories have them), vocab.txt and
  tokenizer_config.json (`config`)."""
  words = vocab()
  ids = {t: i for i, t in enumerate(words)}
  tok = hf.Tokenizer(hf.models.WordPiece(ids, unk_token="[UNK]"))
  tok.normalizer = hf.normalizers.BertNormalizer(lowercase=lowercase)
  tok.pre_tokenizer = hf.pre_tokenizers.BertPreTokenizer()
  tok.decoder = hf.decoders.WordPiece()
  tok.post_processor = hf.processors.TemplateProcessing(
      single=single, pair=pair, special_tokens=[(t, ids[t]) for t in ("[CLS]", "[SEP]")])
  tok.add_special_tokens(SPECIALS)
  tok.enable_padding(length=PADDED_TO, pad_id=0, pad_token="[PAD]")
  tok.enable_truncation(max_length=PADDED_TO)
  path.mkdir(parents=True, exist_ok=True)
  tok.save(str(path / "tokenizer.json"))
  (path / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
  (path / "tokenizer_config.json").write_text(json.dumps(
      {"tokenizer_class": "BertTokenizer", **(config or {})}))
  return len(words)


def bert_config(**kw) -> T.BertConfig:
  return T.BertConfig(**{**dict(vocab_size=len(vocab()), hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=37,
                                max_position_embeddings=PADDED_TO), **kw})


def write_model(path, cls=T.BertModel, seed: int = 0, **config):
  """A random-weight `cls` saved to `path`, beside the tokenizer files; returns the model."""
  model = randomize(cls(bert_config(**config)), seed)
  model.save_pretrained(path)
  return model


def write_sentence_transformers(path, hidden: int, max_seq_length: int = PADDED_TO):
  """modules.json (Transformer, mean Pooling, Normalize) and their configs."""
  (path / "modules.json").write_text(json.dumps([
      {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
      {"idx": 1, "name": "1", "path": "1_Pooling",
       "type": "sentence_transformers.models.Pooling"},
      {"idx": 2, "name": "2", "path": "2_Normalize",
       "type": "sentence_transformers.models.Normalize"}]))
  (path / "sentence_bert_config.json").write_text(json.dumps(
      {"max_seq_length": max_seq_length, "do_lower_case": False}))
  (path / "1_Pooling").mkdir(exist_ok=True)
  (path / "1_Pooling" / "config.json").write_text(json.dumps(
      {"word_embedding_dimension": hidden, "pooling_mode_cls_token": False,
       "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
       "pooling_mode_mean_sqrt_len_tokens": False}))
  (path / "2_Normalize").mkdir(exist_ok=True)
