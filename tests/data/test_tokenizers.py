"""Tokenizers: training, save/load round trips, and id parity with Hugging Face transformers."""

import os
import subprocess
import sys
import unicodedata

import numpy as np
import pytest
from datahelpers import corpus_text

from bertlab.data import corpora
from bertlab.data import tokenizers as tokenizers_lib
from bertlab.data.tokenizer_training import train_tokenizer
from bertlab.data.tokenizers import Tokenizer

# Accented, CJK, emoji, whitespace-heavy and other normalisation traps.
HARD = [
    "Héllo wörld, the naïve café! Ångström ÉCOLE Straße résumé",
    "東京 is big 你好世界 こんにちは",
    "emoji 🤗🚀 👩\u200d👩\u200d👧 ok",
    "  lots   of\t\twhitespace \n\n and\u00a0nbsp\u3000ideographic  ",
    "``quoted'' text -- don't",
    "x\u200by zero-width, Ｆｕｌｌｗｉｄｔｈ ﬁ ligature ² ½",
    "1,000,000 and 9, 10, 3.14",
    "\u0301accent first",
    "",
]
HF_CLASSES = dict(wordpiece="BertTokenizerFast", sentencepiece="AlbertTokenizer",
                  bpe="RobertaTokenizerFast")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """One tokenizer per kind (and a cased WordPiece), trained on a small synthetic text."""
  path = tmp_path_factory.mktemp("text") / "train.txt"
  path.write_text(corpus_text(seed=1, docs=150), encoding="utf-8")
  corpus = corpora.TextFiles([str(path)])
  out = {}
  for name, kind, lowercase in [("wordpiece", "wordpiece", True), ("cased", "wordpiece", False),
                                ("sentencepiece", "sentencepiece", None), ("bpe", "bpe", None)]:
    d = str(tmp_path_factory.mktemp(name))
    tok = train_tokenizer(kind, corpus, vocab_size=600, lowercase=lowercase)
    tok.save(d)
    out[name] = (tok, d)
  return out


@pytest.mark.parametrize("name", ["wordpiece", "cased", "sentencepiece", "bpe"])
def test_train_save_load_round_trip(trained, name):
  tok, d = trained[name]
  assert 100 < tok.vocab_size <= 600
  loaded = Tokenizer.load(d)
  assert (loaded.kind, loaded.lowercase) == (tok.kind, tok.lowercase)
  assert loaded.fingerprint() == tok.fingerprint()
  text = "Kalo misa tovi nedaru. Zürich café 🤗"
  texts = HARD + [text]
  for (i1, w1), (i2, w2) in zip(tok.encode_batch(texts), loaded.encode_batch(texts), strict=True):
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(w1, w2)
  ids, ws = tok.encode(text)
  assert ids.dtype == np.int32 and ws.dtype == np.bool_ and ws[0]
  expected = text
  if tok.lowercase:  # BERT's uncased normalizer: accents stripped, lower case
    expected = "".join(c for c in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(c)).lower()
  assert tok.decode(ids).replace(" ", "") == expected.replace(" ", "")


def test_special_ids_per_family(trained):
  wp, sp, bpe = trained["wordpiece"][0], trained["sentencepiece"][0], trained["bpe"][0]
  assert (wp.pad_id, wp.unk_id, wp.cls_id, wp.sep_id, wp.mask_id) == (0, 1, 2, 3, 4)
  assert (sp.pad_id, sp.unk_id, sp.cls_id, sp.sep_id, sp.mask_id) == (0, 1, 2, 3, 4)
  assert sp.id_to_token(sp.cls_id) == "[CLS]" and sp.id_to_token(sp.pad_id) == "<pad>"
  # RoBERTa: <s>=0 is cls, <pad>=1, </s>=2 is sep.
  assert (bpe.cls_id, bpe.pad_id, bpe.sep_id, bpe.unk_id, bpe.mask_id) == (0, 1, 2, 3, 4)


@pytest.mark.parametrize("name", ["wordpiece", "cased", "sentencepiece", "bpe"])
def test_ids_match_transformers(trained, name):
  transformers = pytest.importorskip("transformers")
  tok, d = trained[name]
  bare = d + "_bare"  # only the native files, as a downloaded vocabulary would be
  os.makedirs(bare)
  for f in os.listdir(d):
    if f != tokenizers_lib.META_FILE:
      os.link(os.path.join(d, f), os.path.join(bare, f))
  ours = Tokenizer.load(bare, lowercase=None if name == "bpe" else tok.lowercase)
  kwargs = dict(do_lower_case=tok.lowercase) if tok.kind == "wordpiece" else {}
  hf = getattr(transformers, HF_CLASSES[tok.kind]).from_pretrained(bare, **kwargs)
  n_known = 0
  for s in HARD:
    ids = ours.encode(s)[0].tolist()
    assert ids == hf(s, add_special_tokens=False)["input_ids"], s
    n_known += sum(i != ours.unk_id for i in ids)
  assert n_known > 50  # the strings are mostly real pieces, not unknowns
  # Special ids agree too (looked up by token).
  assert ours.cls_id == hf.cls_token_id and ours.sep_id == hf.sep_token_id
  assert ours.pad_id == hf.pad_token_id and ours.mask_id == hf.mask_token_id


@pytest.mark.parametrize("name", ["wordpiece", "bpe"])
def test_loads_a_transformers_tokenizer_json(trained, name, tmp_path):
  transformers = pytest.importorskip("transformers")
  tok, d = trained[name]
  hf = getattr(transformers, HF_CLASSES[name]).from_pretrained(d)
  hf.save_pretrained(str(tmp_path))  # tokenizer.json (+ tokenizer_config.json)
  for f in ("vocab.txt", "vocab.json", "merges.txt"):
    if (tmp_path / f).exists():
      os.remove(tmp_path / f)
  loaded = Tokenizer.load(str(tmp_path))
  assert (loaded.kind, loaded.lowercase, loaded.cls_id) == (tok.kind, tok.lowercase, tok.cls_id)
  for s in HARD:
    np.testing.assert_array_equal(loaded.encode(s)[0], tok.encode(s)[0])


def test_bare_vocab_txt_casing_is_guessed(trained):
  for name in ("wordpiece", "cased"):
    tok, d = trained[name]
    bare = d + "_guess"
    os.makedirs(bare)
    os.link(os.path.join(d, "vocab.txt"), os.path.join(bare, "vocab.txt"))
    assert Tokenizer.load(bare).lowercase == tok.lowercase


def test_special_token_text_is_plain_text(trained):
  # Corpus text must never inject control ids (transformers would map "[MASK]" to the mask id).
  for name in ("wordpiece", "sentencepiece", "bpe"):
    tok = trained[name][0]
    ids = tok.encode("a [MASK] b <mask> [CLS] <s>")[0]
    assert not set(ids.tolist()) & set(tok.special_ids) - {tok.unk_id}, name


def test_word_starts(trained):
  transformers = pytest.importorskip("transformers")
  tok, d = trained["wordpiece"]
  hf = transformers.BertTokenizerFast.from_pretrained(d)
  for s in HARD + ["kalomisa tovinedaru, sazoqu!"]:
    ids, ws = tok.encode(s)
    word_ids = hf(s, add_special_tokens=False).word_ids()
    expected = [i == 0 or word_ids[i] != word_ids[i - 1] for i in range(len(word_ids))]
    assert ws.tolist() == expected, s
  sp = trained["sentencepiece"][0]
  ids, ws = sp.encode("kalomisa tovi")
  assert ws.tolist() == [sp.id_to_token(i).startswith("▁") or k == 0 for k, i in enumerate(ids)]
  bpe = trained["bpe"][0]
  ids, ws = bpe.encode("kalomisa tovi\tsa")
  toks = [bpe.id_to_token(i) for i in ids]
  assert ws[0] and all(w == (t[0] in "Ġĉ" or toks[k - 1][-1] in "Ġĉ") for k, (t, w) in
                       enumerate(zip(toks, ws, strict=True)) if k)
  assert sum(ws) == 4  # "ka.." "Ġtovi" "ĉ" "sa": a whitespace token is a word of its own


def test_encode_batch_shapes(trained):
  tok = trained["wordpiece"][0]
  out = tok.encode_batch(["kalo misa", "", "tovi"])
  expected = [len(tok.encode("kalo misa")[0]), 0, len(tok.encode("tovi")[0])]
  assert [len(i) for i, _ in out] == expected
  ids, ws, lengths = tok.encode_flat(["kalo misa", "", "tovi"])
  assert lengths.dtype == np.int64 and ids.shape == ws.shape == (lengths.sum(),)


def test_load_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="no tokenizer files"):
    Tokenizer.load(str(tmp_path))
  (tmp_path / "vocab.txt").write_text("a\nb\n")
  with pytest.raises(ValueError, match=r"expected the special token '\[PAD\]'"):
    Tokenizer.load(str(tmp_path))


def test_cli_trains_and_saves(tmp_path, corpus_file):
  out = tmp_path / "tok"
  run = subprocess.run([sys.executable, "-m", "bertlab.data.tokenizer_training", "train", "--kind",
                        "sentencepiece", "--vocab-size", "300", "--out", str(out), corpus_file],
                       capture_output=True, text=True, check=True)
  assert "sentencepiece tokenizer" in run.stdout and "Warning" not in run.stderr
  assert Tokenizer.load(str(out)).kind == "sentencepiece"
  assert (out / "spiece.model").exists()
