"""The `tokenizers.Tokenizer` the feature builders need, from a checkpoint's tokenizer files.

The feature builders (features.py, squad_features.py) want a fast tokenizer with offsets and
a post-processor that adds the family's special tokens. This finds one in:
  * `tokenizer.json` (Hugging Face fast tokenizer; its post-processor is kept when present),
  * vocab.txt (WordPiece), vocab.json + merges.txt (byte BPE), or a SentencePiece `.model`,
    the files `bertlab.data.tokenizers.Tokenizer` reads, also in our pretraining workdirs.
SentencePiece models become `tokenizers` Unigram models through transformers' AlbertConverter,
which reproduces ALBERT's preprocessing and the sentencepiece library's ids.
"""

from __future__ import annotations

import json
import os

from tokenizers import Tokenizer, pre_tokenizers, processors

# Pad token of each vocabulary kind, as bertlab.data.tokenizers.SPECIALS names them.
PAD_TOKENS = ("[PAD]", "<pad>")


def _template(tok: Tokenizer, cls: str, sep: str) -> processors.TemplateProcessing:
  ids = {t: tok.token_to_id(t) for t in (cls, sep)}
  missing = [t for t, i in ids.items() if i is None]
  if missing:
    raise ValueError(f"tokenizer: expected the special tokens {[cls, sep]} in the vocabulary; "
                     f"missing {missing}. Point init_from at the checkpoint's own tokenizer.")
  return processors.TemplateProcessing(
      single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1",
      special_tokens=[(cls, ids[cls]), (sep, ids[sep])])


def _roberta(tok: Tokenizer) -> processors.RobertaProcessing:
  # <s> A </s></s> B </s>, every type id 0 (RoBERTa has one token type).
  return processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                      ("<s>", tok.token_to_id("<s>")), trim_offsets=True)


def _with_post_processor(tok: Tokenizer) -> Tokenizer:
  if tok.post_processor is not None:
    return tok
  if tok.token_to_id("<s>") is not None and tok.token_to_id("</s>") is not None:
    tok.post_processor = _roberta(tok)
  else:
    tok.post_processor = _template(tok, "[CLS]", "[SEP]")
  return tok


def _from_sentencepiece(model_file: str, lowercase: bool, strip_accents: bool) -> Tokenizer:
  import sentencepiece as spm
  from transformers.convert_slow_tokenizer import AlbertConverter

  sp = spm.SentencePieceProcessor(model_file=model_file)

  class _Slow:  # the attributes AlbertConverter reads from a slow AlbertTokenizer
    vocab_file = model_file
    do_lower_case = lowercase
    keep_accents = not strip_accents
    remove_space = True

    @staticmethod
    def convert_tokens_to_ids(token):
      return sp.piece_to_id(token)

  return AlbertConverter(_Slow()).converted()


def load_text_tokenizer(directory: str) -> tuple[Tokenizer, str]:
  """(tokenizer with a post-processor, its pad token) from the files in `directory`.

  Raises:
    FileNotFoundError naming the files looked for.
  """
  from bertlab.data.tokenizers import META_FILE, override_bert_normalizer, read_tokenizer_config
  from bertlab.data.tokenizers import Tokenizer as Wrapper

  if not os.path.isdir(directory):
    raise FileNotFoundError(f"tokenizer directory {directory!r} does not exist.")
  files = set(os.listdir(directory))
  meta = {}
  if META_FILE in files:
    with open(os.path.join(directory, META_FILE)) as f:
      meta = json.load(f)
  if "tokenizer.json" in files and not meta:
    config = read_tokenizer_config(directory)
    tok = override_bert_normalizer(Tokenizer.from_file(os.path.join(directory, "tokenizer.json")),
                                   config.get("do_lower_case"), config.get("strip_accents"))
    # The builders pad and truncate themselves; a stored Fixed padding would put pads
    # inside every sequence.
    tok.no_padding()
    tok.no_truncation()
  elif any(n.endswith(".model") for n in files) and meta.get("kind") in (None, "sentencepiece"):
    name = "spiece.model" if "spiece.model" in files else sorted(
        n for n in files if n.endswith(".model"))[0]
    lower = meta.get("lowercase", True)
    tok = _from_sentencepiece(os.path.join(directory, name), lower,
                              meta.get("strip_accents", lower))
  else:
    # WordPiece and byte BPE: the wrapper's normalizer and pre-tokenizer, without its
    # "special tokens in text are plain text" switch (task text holds no control tokens).
    wrapper = Wrapper.load(directory)
    tok = Tokenizer.from_str(wrapper._hf.to_str())  # noqa: SLF001 (the wrapper's tokenizers object)
  pad = next((t for t in PAD_TOKENS if tok.token_to_id(t) is not None), None)
  if pad is None:
    raise ValueError(f"{directory}: expected a padding token {PAD_TOKENS} in the vocabulary; "
                     "found none.")
  return _with_post_processor(tok), pad


def for_pretokenized(tok: Tokenizer) -> Tokenizer:
  """A copy of `tok` for word lists (CoNLL): a byte-level BPE must then add a space before
  each word, or every word but the first is encoded as a word continuation (HF's
  `add_prefix_space=True` requirement for RoBERTa NER)."""
  spec = json.loads(tok.to_str())
  pre = spec.get("pre_tokenizer") or {}
  steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
  if not any(p.get("type") == "ByteLevel" for p in steps):
    return tok
  copy = Tokenizer.from_str(tok.to_str())
  copy.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
  return copy
