"""One tokenizer wrapper for the three families of vocabularies: WordPiece, SentencePiece, byte BPE.

  wordpiece      BERT / ELECTRA / SpanBERT: `vocab.txt`, BERT's normalizer (uncased: lowercase and
                 strip accents; cased: neither), `[PAD] [UNK] [CLS] [SEP] [MASK]`.
  sentencepiece  ALBERT: a SentencePiece unigram `.model`, run by the `sentencepiece` library after
                 ALBERT's preprocessing (`` and '' -> ", accents stripped, lowercased, runs of
                 whitespace collapsed), `<pad>`=0 `<unk>` `[CLS]` `[SEP]` `[MASK]`.
  bpe            RoBERTa: byte-level BPE, `vocab.json` + `merges.txt`, `<s>` (cls) `<pad>`=1 `</s>`
                 (sep) `<unk>` `<mask>`.
  tokenizer.json any Hugging Face `tokenizers` file; its kind is read from the model type.

Word starts (True on the first sub-token of a whole word, for whole-word and span masking)
follow each family's reference: WordPiece tokens not starting with "##" (google-research/bert),
SentencePiece pieces starting with "▁" (ALBERT), byte-BPE tokens starting with "Ġ", i.e. a
space (fairseq's `mask_whole_words`), or another whitespace byte, or following a token that ends
in one. The first token of every encoded text is always a word start.

Special-token strings inside text ("[MASK]", "<s>") are tokenized as plain text: corpus text can
never inject control ids.

CLI: python -m bertlab.data.tokenizer_training train --kind wordpiece --vocab-size 30522 --out DIR FILES...
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Sequence

import numpy as np

KINDS = ("wordpiece", "sentencepiece", "bpe")
META_FILE = "bertlab_tokenizer.json"
SP_FILE = "spiece.model"

# Token strings of the roles every family needs; kind -> role -> token.
SPECIALS = {
    "wordpiece": dict(pad="[PAD]", unk="[UNK]", cls="[CLS]", sep="[SEP]", mask="[MASK]"),
    "sentencepiece": dict(pad="<pad>", unk="<unk>", cls="[CLS]", sep="[SEP]", mask="[MASK]"),
    "bpe": dict(pad="<pad>", unk="<unk>", cls="<s>", sep="</s>", mask="<mask>"),
}


class Tokenizer:
  """Text <-> int32 ids for one vocabulary, with word-start flags and the special ids.

  Build with `Tokenizer.load(dir)`, `Tokenizer.from_files(...)` or
  `bertlab.data.tokenizer_training.train_tokenizer(...)`; not from the constructor directly.
  """

  def __init__(self, kind: str, *, hf=None, sp=None, lowercase: bool = False,
               strip_accents: bool = False):
    if kind not in KINDS:
      raise ValueError(f"Tokenizer kind: expected one of {KINDS}, got {kind!r}")
    self.kind = kind
    self.lowercase = bool(lowercase)
    self.strip_accents = bool(strip_accents)
    self._hf, self._sp = hf, sp
    # True: a tokenizer.json's post-processor places the special tokens (`special_layout`).
    self.use_post_processor = False
    if hf is not None:
      # Special tokens in raw text are encoded as text (see module docstring).
      hf.encode_special_tokens = True
      vocab = hf.get_vocab(with_added_tokens=True)
      tokens = [""] * (max(vocab.values()) + 1)
      for t, i in vocab.items():
        tokens[i] = t
    else:
      tokens = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
      self._pre = _albert_normalizer(lowercase, strip_accents)
    self._tokens = tokens
    ids = {}
    for role, tok in SPECIALS[kind].items():
      i = self.token_to_id(tok)
      if i is None:
        raise ValueError(
            f"{kind} vocabulary: expected the special token {tok!r} ({role}), found none among "
            f"{len(tokens)} tokens; train the vocabulary with bertlab.data.tokenizer_training, "
            f"which adds {list(SPECIALS[kind].values())}")
      ids[role] = i
    self.pad_id, self.unk_id = ids["pad"], ids["unk"]
    self.cls_id, self.sep_id, self.mask_id = ids["cls"], ids["sep"], ids["mask"]
    self._word_start_table = np.array([_starts_word(kind, t) for t in tokens], dtype=np.bool_)
    # Byte BPE: a token after one ending in whitespace (a tab, a newline) also starts a word.
    self._ends_space_table = (np.array([t[-1:] in _BYTE_SPACES for t in tokens], dtype=np.bool_)
                              if kind == "bpe" else None)

  # --- vocabulary -------------------------------------------------------------------------------

  @property
  def vocab_size(self) -> int:
    """Number of ids, i.e. the embedding table's rows (max id + 1)."""
    return len(self._tokens)

  @property
  def special_ids(self) -> tuple[int, ...]:
    """(pad, unk, cls, sep, mask) ids, each once."""
    return tuple(sorted({self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id}))

  def id_to_token(self, i: int) -> str:
    return self._tokens[i]

  def token_to_id(self, token: str) -> int | None:
    if self._hf is not None:
      return self._hf.token_to_id(token)
    i = self._sp.piece_to_id(token)
    # sentencepiece answers unk_id for a missing piece.
    return i if self._sp.id_to_piece(i) == token else None

  # --- encoding ---------------------------------------------------------------------------------

  def encode_flat(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encodes texts without special tokens, all in one buffer (the cache's fast path).

    Returns (ids int32 [T], word_starts bool [T], lengths int64 [len(texts)]), T = sum(lengths).
    Runs on all cores (Rust `encode_batch_fast` / sentencepiece's thread pool).
    """
    texts = list(texts)
    if self._hf is not None:
      encs = self._hf.encode_batch_fast(texts, add_special_tokens=False)
      lists = [e.ids for e in encs]
    else:
      lists = self._sp.encode([self._preprocess(t) for t in texts], out_type=int,
                              num_threads=os.cpu_count() or 1)
    lengths = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    total = int(lengths.sum())
    ids = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int32, count=total)
    word_starts = self._word_start_table[ids]
    if self._ends_space_table is not None and total > 1:
      word_starts[1:] |= self._ends_space_table[ids[:-1]]
    firsts = np.cumsum(lengths) - lengths
    word_starts[firsts[lengths > 0]] = True
    return ids, word_starts, lengths

  def encode_batch(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Encodes texts without special tokens: a list of (ids int32 [n], word_starts bool [n])."""
    ids, word_starts, lengths = self.encode_flat(texts)
    bounds = np.cumsum(lengths)[:-1]
    return list(zip(np.split(ids, bounds), np.split(word_starts, bounds), strict=True))

  def encode_offsets(self, texts: Sequence[str], *, words: bool = False):
    """`tokenizers.Encoding`s without special tokens, with character offsets and word ids
    (texts may be word lists with words=True). WordPiece and byte BPE only."""
    if self._hf is None:
      raise ValueError(f"{self.kind} tokenizer: character offsets need a tokenizers model "
                       "(WordPiece or byte BPE); load the checkpoint's tokenizer.json")
    return self._hf.encode_batch(list(texts), is_pretokenized=words, add_special_tokens=False)

  def encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
    return self.encode_batch([text])[0]

  def special_layout(self, pair: bool = True) -> tuple[list[int], list[int], list[int], bool] | None:
    """The special ids a tokenizer.json's post-processor puts around one text (pair=False)
    or a pair, as (before A, between A and B, after the last segment, whether B has token
    type 1); None unless `use_post_processor` is set (transformers honours the file's
    post-processor only for its generic tokenizer class) or there is none."""
    if not self.use_post_processor or self._hf is None or self._hf.post_processor is None:
      return None
    # Any one-token texts: the layout is read from where the segments land.
    enc = (self._hf.encode("a", "b", add_special_tokens=True) if pair
           else self._hf.encode("a", add_special_tokens=True))
    seq = [-1 if s is None else s for s in enc.sequence_ids]
    last = 1 if pair else 0
    if 0 not in seq or last not in seq:
      return None
    ids = enc.ids
    a_end = max(i for i, s in enumerate(seq) if s == 0)
    b_start = seq.index(last) if pair else a_end + 1
    z_end = max(i for i, s in enumerate(seq) if s == last)
    start = [ids[i] for i in range(seq.index(0)) if seq[i] == -1]
    mid = [ids[i] for i in range(a_end + 1, b_start) if seq[i] == -1]
    end = [ids[i] for i in range(z_end + 1, len(ids)) if seq[i] == -1]
    return start, mid, end, pair and enc.type_ids[b_start] == 1

  def decode(self, ids, skip_special_tokens: bool = True) -> str:
    ids = [int(i) for i in np.asarray(ids).reshape(-1)]
    if skip_special_tokens:
      special = set(self.special_ids)
      ids = [i for i in ids if i not in special]
    if self._hf is not None:
      return self._hf.decode(ids, skip_special_tokens=False)
    return self._sp.decode(ids)

  def _preprocess(self, text: str) -> str:
    # ALBERT's preprocess_text, through the same `tokenizers` normalizers as transformers'
    # AlbertTokenizer so that ids agree; SentencePiece then adds its own NFKC.
    return " ".join(self._pre.normalize_str(text).split())

  # --- files ------------------------------------------------------------------------------------

  def fingerprint(self) -> str:
    """sha256 of the vocabulary and every option that changes ids (a cache key)."""
    h = hashlib.sha256(json.dumps(self._meta(), sort_keys=True).encode())
    h.update(self._hf.to_str().encode() if self._hf is not None
             else self._sp.serialized_model_proto())
    return h.hexdigest()

  def _meta(self) -> dict:
    return dict(kind=self.kind, lowercase=self.lowercase, strip_accents=self.strip_accents)

  def save(self, directory: str) -> None:
    """Writes the family's native files (vocab.txt / spiece.model / vocab.json + merges.txt) and
    `bertlab_tokenizer.json` (kind and normalization options) into `directory`."""
    os.makedirs(directory, exist_ok=True)
    if self.kind == "wordpiece":
      with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.writelines(t + "\n" for t in self._tokens)
    elif self.kind == "bpe":
      self._hf.model.save(directory)  # vocab.json + merges.txt
    else:
      with open(os.path.join(directory, SP_FILE), "wb") as f:
        f.write(self._sp.serialized_model_proto())
    with open(os.path.join(directory, META_FILE), "w") as f:
      json.dump(self._meta(), f, indent=2)

  @classmethod
  def load(cls, directory: str, *, lowercase: bool | None = None,
           strip_accents: bool | None = None) -> Tokenizer:
    """Loads a tokenizer, detecting its kind from the files in `directory`.

    Looks for, in order: bertlab_tokenizer.json (written by `save`), tokenizer.json, spiece.model
    or another *.model, vocab.json + merges.txt, vocab.txt. `lowercase` overrides the stored or
    guessed casing (a bare vocab.txt is taken as uncased when it has no upper-case tokens).
    """
    if not os.path.isdir(directory):
      raise FileNotFoundError(f"tokenizer directory {directory!r} does not exist")
    files = set(os.listdir(directory))
    path = lambda name: os.path.join(directory, name)
    meta = {}
    if META_FILE in files:
      with open(path(META_FILE)) as f:
        meta = json.load(f)
    if lowercase is not None:
      meta.update(lowercase=lowercase, strip_accents=lowercase)
    if strip_accents is not None:
      meta.update(strip_accents=strip_accents)
    kind = meta.get("kind")
    models = sorted(n for n in files if n.endswith(".model"))
    if kind is None and "tokenizer.json" in files:
      return cls.from_tokenizer_json(path("tokenizer.json"), lowercase=lowercase,
                                     strip_accents=strip_accents)
    if kind in (None, "sentencepiece") and models:
      name = SP_FILE if SP_FILE in files else models[0]
      return cls.from_files("sentencepiece", path(name), **_opts(meta))
    if kind in (None, "bpe") and {"vocab.json", "merges.txt"} <= files:
      return cls.from_files("bpe", path("vocab.json"), path("merges.txt"))
    if kind in (None, "wordpiece") and "vocab.txt" in files:
      return cls.from_files("wordpiece", path("vocab.txt"), **_opts(meta))
    raise FileNotFoundError(
        f"no tokenizer files in {directory!r} (found {sorted(files)}); expected one of "
        "tokenizer.json, *.model, vocab.json + merges.txt, vocab.txt"
        + (f" for kind {kind!r} named in {META_FILE}" if kind else ""))

  @classmethod
  def from_files(cls, kind: str, *paths: str, lowercase: bool | None = None,
                 strip_accents: bool | None = None) -> Tokenizer:
    """From native files: wordpiece(vocab.txt), sentencepiece(x.model), bpe(vocab.json, merges.txt).

    Casing defaults: wordpiece guesses from the vocabulary, sentencepiece is uncased (ALBERT),
    bpe is always cased (RoBERTa). `strip_accents` defaults to `lowercase`, as BERT's.
    """
    import tokenizers as hf

    if kind == "wordpiece":
      tok = hf.Tokenizer(hf.models.WordPiece.from_file(paths[0], unk_token="[UNK]"))
      if lowercase is None:
        lowercase = _looks_uncased(tok.get_vocab())
      strip = lowercase if strip_accents is None else strip_accents
      tok.normalizer = hf.normalizers.BertNormalizer(
          clean_text=True, handle_chinese_chars=True, strip_accents=strip, lowercase=lowercase)
      tok.pre_tokenizer = hf.pre_tokenizers.BertPreTokenizer()
      tok.decoder = hf.decoders.WordPiece(prefix="##")
      return cls._with_specials("wordpiece", tok, lowercase, strip)
    if kind == "bpe":
      if lowercase:
        raise ValueError("byte-level BPE is cased (RoBERTa has no normalizer); got lowercase=True")
      tok = hf.Tokenizer(hf.models.BPE.from_file(paths[0], paths[1]))
      tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
      tok.decoder = hf.decoders.ByteLevel()
      return cls._with_specials("bpe", tok, False, False)
    if kind == "sentencepiece":
      import sentencepiece as spm

      sp = spm.SentencePieceProcessor(model_file=paths[0])
      lowercase = True if lowercase is None else lowercase
      strip = lowercase if strip_accents is None else strip_accents
      return cls("sentencepiece", sp=sp, lowercase=lowercase, strip_accents=strip)
    raise ValueError(f"Tokenizer kind: expected one of {KINDS}, got {kind!r}")

  @classmethod
  def from_tokenizer_json(cls, path: str, *, lowercase: bool | None = None,
                          strip_accents: bool | None = None) -> Tokenizer:
    """From a Hugging Face `tokenizer.json` with a WordPiece or byte-level BPE model.

    lowercase / strip_accents: tokenizer_config.json's `do_lower_case` / `strip_accents`,
    which override a BERT normalizer's as transformers' BertTokenizer does (None: the file's).
    """
    import tokenizers as hf

    tok = override_bert_normalizer(hf.Tokenizer.from_file(path), lowercase, strip_accents)
    # Hub files often store `"padding": {"strategy": {"Fixed": 128}}` and a truncation: left
    # on, every text would come back as 128 ids with the pads inside it. Callers pad and
    # truncate themselves (after adding special tokens), as transformers does.
    tok.no_padding()
    tok.no_truncation()
    spec = json.loads(tok.to_str())
    kind = {"WordPiece": "wordpiece", "BPE": "bpe"}.get(spec["model"]["type"])
    if kind is None or (kind == "bpe" and "ByteLevel" not in json.dumps(spec["pre_tokenizer"])):
      raise ValueError(f"{path}: expected a WordPiece or byte-level BPE model, found "
                       f"{spec['model']['type']!r}; for SentencePiece load its .model file")
    # Casing is informational here: the file's own normalizer does the work.
    norm = spec.get("normalizer") or {}
    lower = bool(norm.get("lowercase", False))
    strip = lower if norm.get("strip_accents") is None else bool(norm["strip_accents"])
    return cls._with_specials(kind, tok, lower, strip)

  @classmethod
  def _with_specials(cls, kind, tok, lowercase, strip_accents) -> Tokenizer:
    import tokenizers as hf

    present = [t for t in SPECIALS[kind].values() if tok.token_to_id(t) is not None]
    # Marking tokens already in the vocabulary as special changes no id; decode can skip them.
    tok.add_special_tokens([hf.AddedToken(t, special=True, normalized=False) for t in present])
    return cls(kind, hf=tok, lowercase=lowercase, strip_accents=strip_accents)


def read_tokenizer_config(directory: str) -> dict:
  """tokenizer_config.json of a Hugging Face directory ({} when absent)."""
  path = os.path.join(directory, "tokenizer_config.json")
  if not os.path.isfile(path):
    return {}
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def model_max_length(config: dict) -> int | None:
  """tokenizer_config.json's model_max_length; None when absent or transformers' 'unset'
  sentinel (int(1e30))."""
  n = config.get("model_max_length")
  return int(n) if isinstance(n, (int, float)) and 0 < n < 10**9 else None


def override_bert_normalizer(tok, lowercase: bool | None, strip_accents: bool | None):
  """`tok` (a tokenizers.Tokenizer) with its BertNormalizer's casing set from
  tokenizer_config.json, as transformers' BertTokenizer does when they differ: the file's
  normalizer says one thing, `do_lower_case` another, and transformers follows the config."""
  import tokenizers as hf

  norm = json.loads(tok.to_str()).get("normalizer") or {}
  if norm.get("type") != "BertNormalizer" or (lowercase is None and strip_accents is None):
    return tok
  lower = norm.get("lowercase", True) if lowercase is None else lowercase
  strip = norm.get("strip_accents") if strip_accents is None else strip_accents
  if (lower, strip) != (norm.get("lowercase", True), norm.get("strip_accents")):
    tok.normalizer = hf.normalizers.BertNormalizer(
        clean_text=norm.get("clean_text", True),
        handle_chinese_chars=norm.get("handle_chinese_chars", True),
        strip_accents=strip, lowercase=lower)
  return tok


def _opts(meta: dict) -> dict:
  return {k: meta[k] for k in ("lowercase", "strip_accents") if k in meta}


def _albert_normalizer(lowercase: bool, strip_accents: bool):
  from tokenizers import normalizers as n

  steps = [n.Replace("``", '"'), n.Replace("''", '"')]
  if strip_accents:
    steps += [n.NFKD(), n.StripAccents()]
  if lowercase:
    steps.append(n.Lowercase())
  return n.Sequence(steps)


# Byte-level BPE writes byte b < 33 as chr(256 + b): tab, newline, VT, FF, CR and space.
_BYTE_SPACES = frozenset(chr(256 + b) for b in (9, 10, 11, 12, 13, 32))


def _starts_word(kind: str, token: str) -> bool:
  if kind == "wordpiece":
    return not token.startswith("##")
  if kind == "sentencepiece":
    return token.startswith("\u2581")
  return token[:1] in _BYTE_SPACES  # "Ġ" (space) and the other whitespace bytes


def _looks_uncased(vocab: dict[str, int]) -> bool:
  words = [t for t in vocab if not (t.startswith("[") and t.endswith("]"))]
  upper = sum(any(c.isupper() for c in t) for t in words)
  return upper <= 0.001 * max(len(words), 1)
