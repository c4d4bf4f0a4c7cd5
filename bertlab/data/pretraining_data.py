"""One call from a corpus to a family's pretraining examples: the trainer's data entry point.

  corpus -> tokenizer (loaded, or trained once and kept) -> token cache -> instances (cached)

Everything expensive is cached under `cache_dir`, keyed by hashes of its inputs, so a second run
(or a resumed one) reads memory-mapped arrays and neither retrains nor re-tokenizes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

import numpy as np

from bertlab.data import cache as cache_lib
from bertlab.data import corpus_spec, instances
from bertlab.data.tokenizers import KINDS, META_FILE, Tokenizer
from bertlab.storage import files, mirror

log = logging.getLogger(__name__)

# The vocabulary each family's paper uses (tokenizer_kind may differ; this is a sanity check).
FAMILY_KINDS = dict(bert="wordpiece", electra="wordpiece", spanbert="wordpiece",
                    albert="sentencepiece", roberta="bpe")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model")


def build_pretraining_data(*, family: str, corpus: list[str] | None, tokenizer_dir: str | None,
                           tokenizer_kind: str, vocab_size: int, max_seq_len: int, seed: int,
                           cache_dir: str, lowercase: bool | None = None,
                           short_seq_prob: float = 0.1, dupe_factor: int = 1,
                           roberta_packing: str = "full", doc_per_line: bool = False,
                           split_sentences: bool | None = None, progress: bool = True
                           ) -> tuple[Tokenizer, dict[str, np.ndarray]]:
  """Returns (tokenizer, instances): instances are `bertlab.data.instances`' arrays, [N, L].

  family: "bert" | "albert" | "roberta" | "electra" | "spanbert".
  corpus: text files / globs, ["tfds:NAME[:SPLIT]"], or None for the built-in pydoc corpus.
  tokenizer_dir: load the tokenizer from here if it holds tokenizer files; otherwise train one
    of `tokenizer_kind` and `vocab_size` (the text may support fewer ids) on the corpus and save
    it here (or, if None, under cache_dir, reused by later runs).
  lowercase: uncased vocabulary; None = the kind's default (uncased wordpiece/sentencepiece,
    cased for spanbert). Byte-level BPE is always cased (True is ignored, with a warning).
  short_seq_prob, dupe_factor: bert/albert/electra (see `instances.build_instances`).
  roberta_packing: "full" (FULL-SENTENCES) or "doc" (DOC-SENTENCES).
  doc_per_line, split_sentences: how text files are read (see `corpora.TextFiles`).
  """
  if family not in FAMILY_KINDS:
    raise ValueError(f"family: expected one of {sorted(FAMILY_KINDS)}, got {family!r}")
  if tokenizer_kind not in KINDS:
    raise ValueError(f"tokenizer_kind: expected one of {KINDS}, got {tokenizer_kind!r}")
  if tokenizer_kind != FAMILY_KINDS[family]:
    log.warning("%s with a %s tokenizer (the paper uses %s)", family, tokenizer_kind,
                FAMILY_KINDS[family])
  lowercase, requested_case = resolve_case(family, tokenizer_kind, lowercase)
  options = dict(doc_per_line=doc_per_line, split_sentences=split_sentences)
  text = corpus_spec.open_corpus(corpus, **{k: v for k, v in options.items() if v is not None})
  tok = get_tokenizer(text, tokenizer_dir, tokenizer_kind, vocab_size, lowercase, requested_case,
                      cache_dir)
  tokens = cache_lib.build_cache(text, tok, cache_dir, progress=progress)
  log.info("token cache %s: %d documents, %d sentences, %d tokens; %s", tokens.path,
           tokens.num_documents, tokens.num_sentences, tokens.num_tokens,
           tokens.meta["corpus"]["issues"] or "no repairs")
  args = dict(family=family, max_seq_len=max_seq_len, seed=seed, pad_id=tok.pad_id,
              cls_id=tok.cls_id, sep_id=tok.sep_id, short_seq_prob=short_seq_prob,
              dupe_factor=dupe_factor, roberta_packing=roberta_packing)
  return tok, _instances(tokens, args, cache_dir)


def resolve_case(family: str, kind: str, lowercase: bool | None) -> tuple[bool | None, bool | None]:
  """(lowercase to train with, lowercase requested when loading: None = as stored)."""
  if kind == "bpe" and lowercase:
    log.warning("lowercase=True ignored: byte-level BPE is cased (RoBERTa has no normalizer)")
    lowercase = False
  requested_case = lowercase
  if lowercase is None and family == "spanbert":
    lowercase = False  # SpanBERT is cased
  return lowercase, requested_case


def load_tokenizer(directory: str, kind: str, requested_case: bool | None) -> Tokenizer:
  tok = Tokenizer.load(mirror.pull(directory), lowercase=requested_case)  # None: as stored
  if tok.kind != kind:
    raise ValueError(f"{directory} holds a {tok.kind} tokenizer, but tokenizer_kind is "
                     f"{kind!r}; pass tokenizer_kind={tok.kind!r} or another directory")
  return tok


def get_tokenizer(text, tokenizer_dir, kind, vocab_size, lowercase, requested_case,
                  cache_dir) -> Tokenizer:
  """Loads the tokenizer of `tokenizer_dir`, or trains one on `text` and keeps it there (or,
  without a tokenizer_dir, under cache_dir keyed by the corpus contents and options)."""
  from bertlab.data.tokenizer_training import train_tokenizer

  if tokenizer_dir and has_tokenizer(tokenizer_dir):
    return load_tokenizer(tokenizer_dir, kind, requested_case)
  key = _hash(dict(corpus=text.fingerprint(), kind=kind, vocab_size=vocab_size,
                   lowercase=lowercase))
  saved = tokenizer_dir or files.join(cache_dir, f"tokenizer-{kind}-{key}")
  if has_tokenizer(saved):
    return Tokenizer.load(mirror.pull(saved))
  log.info("training a %s tokenizer (vocab %d) on %s", kind, vocab_size, text.inputs())
  tok = train_tokenizer(kind, text, vocab_size=vocab_size, lowercase=lowercase)
  if not files.is_remote(saved) and os.path.isdir(saved) and os.listdir(saved):
    # a user directory holding other files
    tok.save(saved)
  else:
    # Atomic, and the first writer wins: processes sharing the directory all load the same
    # vocabulary (WordPiece training is made deterministic in tokenizer_training, but
    # SentencePiece's sampling and thread count need not be).
    with cache_lib.atomic_dir(saved, last=META_FILE) as tmp:
      tok.save(tmp)
  return Tokenizer.load(mirror.pull(saved))


def has_tokenizer(directory: str) -> bool:
  return any(n in _TOKENIZER_FILES or n.endswith(".model") for n in files.listdir(directory))


def _instances(tokens: cache_lib.TokenCache, args: dict, cache_dir: str) -> dict[str, np.ndarray]:
  path = os.path.join(cache_dir, f"instances-{args['family']}-{args['max_seq_len']}-" + _hash(
      dict(tokens=os.path.basename(tokens.path), v=cache_lib.FORMAT_VERSION, **args)))
  if not os.path.isdir(path):
    with cache_lib.atomic_dir(path) as tmp:
      arrays = instances.build_instances(tokens, out_dir=tmp, **args)
      with open(os.path.join(tmp, "meta.json"), "w") as f:
        json.dump(dict(args, num_examples=len(arrays["input_ids"]),
                       keys=sorted(arrays)), f, indent=2)
  with open(os.path.join(path, "meta.json")) as f:
    keys = json.load(f)["keys"]
  return {k: np.load(os.path.join(path, k + ".npy"), mmap_mode="r") for k in keys}


def _hash(obj) -> str:
  return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:20]
