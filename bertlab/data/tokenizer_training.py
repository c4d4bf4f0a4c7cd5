"""Train a WordPiece, SentencePiece-unigram or byte-level BPE vocabulary from text.

WordPiece and BPE train with Hugging Face `tokenizers` (Rust, all cores), SentencePiece with the
`sentencepiece` library, each with its family's special tokens at the family's ids:
  wordpiece      [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 (BERT's own vocab has them at 0/100-103;
                 both work, ids are looked up by token)
  sentencepiece  <pad>=0 <unk>=1 [CLS]=2 [SEP]=3 [MASK]=4 (as ALBERT's 30k-clean.model)
  bpe            <s>=0 <pad>=1 </s>=2 <unk>=3 <mask>=4 (RoBERTa's first four; its <mask> is last)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence

from bertlab.data import corpora, corpus_spec
from bertlab.data.tokenizers import KINDS, META_FILE, Tokenizer, _albert_normalizer

_ORDER = {
    "wordpiece": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
    "sentencepiece": ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"],
    "bpe": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
}


def train_tokenizer(kind: str, texts: corpora.Corpus | Iterable[str], *, vocab_size: int,
                    lowercase: bool | None = None, min_frequency: int = 2,
                    max_sentences: int = 5_000_000) -> Tokenizer:
  """Trains a vocabulary of at most `vocab_size` ids (fewer if the text is too small for it).

  texts: a Corpus (its sentences) or any iterable of strings.
  lowercase: uncased (lowercase + strip accents) or cased; default uncased for wordpiece and
    sentencepiece (BERT-base-uncased, ALBERT), cased for bpe (the only choice for it).
  max_sentences: SentencePiece keeps at most this many sentences in memory (a random sample).
  The result is saved to and re-read from files, so it equals `Tokenizer.load` of its `save`.
  """
  if kind not in KINDS:
    raise ValueError(f"tokenizer kind: expected one of {KINDS}, got {kind!r}")
  if not isinstance(vocab_size, int) or vocab_size < 16:
    raise ValueError(f"vocab_size: expected an int >= 16, got {vocab_size!r}")
  if kind == "bpe":
    if lowercase:
      raise ValueError("bpe: byte-level BPE is cased as RoBERTa's; got lowercase=True")
    lowercase = False
  lowercase = True if lowercase is None else bool(lowercase)
  if not isinstance(texts, corpora.Corpus):
    texts = list(texts)  # WordPiece reads the text twice; a Corpus is re-read from its files
  lines = lambda: _non_empty(corpora.iter_texts(texts))
  with tempfile.TemporaryDirectory() as tmp:
    if kind == "sentencepiece":
      _train_sentencepiece(lines(), vocab_size, lowercase, max_sentences, tmp)
    else:
      _train_hf(kind, lines, vocab_size, lowercase, min_frequency, tmp)
    return _load(kind, tmp, lowercase)


def _load(kind: str, directory: str, lowercase: bool) -> Tokenizer:
  # Written like `Tokenizer.save` would, then read back through the one loading path.
  with open(os.path.join(directory, META_FILE), "w") as f:
    json.dump(dict(kind=kind, lowercase=lowercase, strip_accents=lowercase), f)
  return Tokenizer.load(directory)


def _non_empty(lines: Iterator[str]) -> Iterator[str]:
  n = 0
  for line in lines:
    if line.strip():
      n += 1
      yield line
  if n == 0:
    raise ValueError("tokenizer training: the text has no non-blank line; expected a corpus "
                     "with text")


def _train_hf(kind, lines, vocab_size, lowercase, min_frequency, out_dir):
  import tokenizers as hf

  specials = _ORDER[kind]
  if kind == "wordpiece":
    tok = hf.Tokenizer(hf.models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = hf.normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=lowercase, lowercase=lowercase)
    tok.pre_tokenizer = hf.pre_tokenizers.BertPreTokenizer()
    trainer = _wordpiece_trainer(hf, vocab_size, min_frequency,
                                 specials + _continuation_chars(hf, tok, lines, specials))
  else:
    tok = hf.Tokenizer(hf.models.BPE())
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = hf.trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials,
        initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
  tok.train_from_iterator(_batches(lines()), trainer=trainer)
  for i, t in enumerate(specials):
    assert tok.token_to_id(t) == i, (t, tok.token_to_id(t))
  if kind == "wordpiece":
    vocab = tok.get_vocab()
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
      f.writelines(t + "\n" for t, _ in sorted(vocab.items(), key=lambda kv: kv[1]))
  else:
    tok.model.save(out_dir)  # vocab.json + merges.txt


def _wordpiece_trainer(hf, vocab_size, min_frequency, specials):
  # limit_alphabet as Hugging Face's BertWordPieceTokenizer: rare characters become [UNK].
  return hf.trainers.WordPieceTrainer(
      vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials,
      limit_alphabet=1000, continuing_subword_prefix="##", show_progress=False)


def _continuation_chars(hf, tok, lines, specials) -> list[str]:
  """Every "##c" token the trainer will create, sorted by code point.

  Why: Hugging Face's WordPiece trainer gives "##c" tokens ids in the iteration order of a
  per-process randomly seeded hash map; merges of equal count are then ranked by those ids, so
  two fresh processes learn different vocabularies from the same text (huggingface/tokenizers
  #1794). Declared up front, in a fixed order, as extra special tokens, they get fixed ids and
  the merges become deterministic. A first pass with no merges (vocab_size 1: the trainer stops
  before merging) lists them; it only counts words, a fraction of the full training.
  Only `vocab.txt` is kept, so these "specials" are ordinary vocabulary entries afterwards.
  """
  probe = hf.Tokenizer(hf.models.WordPiece(unk_token="[UNK]"))
  probe.normalizer, probe.pre_tokenizer = tok.normalizer, tok.pre_tokenizer
  probe.train_from_iterator(_batches(lines()),
                            trainer=_wordpiece_trainer(hf, 1, 0, specials))
  return sorted(t for t in probe.get_vocab() if t.startswith("##") and len(t) > 2)


def _batches(lines: Iterator[str], size: int = 1000) -> Iterator[list[str]]:
  batch = []
  for line in lines:
    batch.append(line)
    if len(batch) == size:
      yield batch
      batch = []
  if batch:
    yield batch


def _train_sentencepiece(lines, vocab_size, lowercase, max_sentences, out_dir):
  import sentencepiece as spm

  # Train on text normalized as it will be encoded (ALBERT lowercases before SentencePiece).
  pre = _albert_normalizer(lowercase, lowercase)
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=(" ".join(pre.normalize_str(s).split()) for s in lines),
      model_writer=model, vocab_size=vocab_size, model_type="unigram",
      # ALBERT's settings (google-research/albert README): ids 0-4 as _ORDER.
      pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, control_symbols="[CLS],[SEP],[MASK]",
      character_coverage=0.99995, input_sentence_size=max_sentences,
      shuffle_input_sentence=True, max_sentence_length=1 << 16,
      # A small corpus may not support the requested size: take what it supports.
      hard_vocab_limit=False, num_threads=os.cpu_count() or 1, minloglevel=2)
  with open(os.path.join(out_dir, "spiece.model"), "wb") as f:
    f.write(model.getvalue())


def main(argv: Sequence[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m bertlab.data.tokenizer_training",
                              description="Train a tokenizer from text files (default: the "
                                          "built-in pydoc corpus) and save it to a directory.")
  sub = p.add_subparsers(dest="command", required=True)
  t = sub.add_parser("train")
  t.add_argument("--kind", choices=KINDS, required=True)
  t.add_argument("--vocab-size", type=int, required=True)
  t.add_argument("--out", required=True, help="directory for the tokenizer files")
  t.add_argument("--cased", action="store_true", help="keep case and accents (wordpiece, "
                 "sentencepiece); bpe is always cased")
  t.add_argument("--doc-per-line", action="store_true", help="each line is a document")
  t.add_argument("files", nargs="*", help="text files or globs (.gz ok); none: built-in corpus")
  args = p.parse_args(argv)
  corpus = corpus_spec.open_corpus(args.files or None, doc_per_line=args.doc_per_line)
  tok = train_tokenizer(
      args.kind, corpus, vocab_size=args.vocab_size,
      lowercase=None if args.kind == "bpe" else not args.cased)
  tok.save(args.out)
  print(f"{args.kind} tokenizer, {tok.vocab_size} ids, saved to {args.out}")
  print(corpus.stats.summary())
  return 0


if __name__ == "__main__":
  sys.exit(main())
