"""Prepare a corpus once, sharded over hosts: token caches and compact examples, one manifest.

  python -m bertlab.data.prepare --config CONFIG.py --out DIR [--shard i/N] [--config.KEY=V ...]
  python -m bertlab.data.prepare --config CONFIG.py --out DIR --tokenizer_only

The corpus is cut into pieces (one per file, or per document range of about 64 MB of a larger
plain file; the built-in and TFDS corpora are one piece). A
piece's examples depend only on its text, the tokenizer, the options and its position (its
generator is seeded with [seed, piece]), never on how many hosts prepare: shard i of N builds
the pieces `assign_pieces` gives it, each into `DIR/pieces/<piece key>/` (a token cache and an
example index, see `example_index`), then writes `DIR/shards/<plan>-<i>-of-<N>.json`. Whoever
finds all N shard files writes `DIR/manifest.json`: the pieces in corpus order, their counts,
skipped files with their causes, and the fingerprints of tokenizer and data. Training reads the
union in piece order (`open_prepared`), so every N gives the same examples in the same order.

Sharded preparation needs a fixed tokenizer, so that every host encodes with the same ids:
`data.tokenizer_dir`, or `DIR/tokenizer` written by `--tokenizer_only` (or by a 1-shard run).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time

import numpy as np

from bertlab.data import cache as cache_lib
from bertlab.data import corpora, corpus_files, corpus_spec, example_index, instances
from bertlab.data.tokenizers import META_FILE as TOKENIZER_LAST  # written last: the sign of a whole folder
from bertlab.data.tokenizers import Tokenizer
from bertlab.storage import files, mirror

log = logging.getLogger(__name__)
FORMAT = 1
MANIFEST = "manifest.json"
PIECE_BYTES = 64 << 20  # a plain file larger than this is cut into document ranges of about this


def options_from_config(config) -> dict:
  """What defines a preparation, read from a training config (`bertlab.training.config`)."""
  d = config.data
  corpus = [p for p in d.corpus.split(",") if p] or None
  if d.tfds_name:
    corpus = [f"tfds:{d.tfds_name}:{d.tfds_split}"]
  return dict(family=config.family, corpus=corpus, doc_per_line=bool(d.one_doc_per_line),
              max_seq_len=int(d.max_seq_len), seed=int(config.seed), short_seq_prob=0.1,
              dupe_factor=1,
              roberta_packing=d.get("roberta_packing", "full"), tokenizer_kind=d.tokenizer,
              vocab_size=int(d.vocab_size), lowercase=d.lowercase,
              tokenizer_dir=d.tokenizer_dir or None, piece_bytes=PIECE_BYTES)


def _example_options(o: dict) -> dict:
  keys = ("family", "doc_per_line", "max_seq_len", "seed", "short_seq_prob", "dupe_factor",
          "roberta_packing", "piece_bytes")
  return {k: o.get(k, PIECE_BYTES if k == "piece_bytes" else None) for k in keys}


def _hash(obj, n: int = 16) -> str:
  return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:n]


def open_text(o: dict) -> corpora.Corpus:
  return corpus_spec.open_corpus(o["corpus"], doc_per_line=o["doc_per_line"])


def pieces_of(text: corpora.Corpus, piece_bytes: int = PIECE_BYTES) -> list[dict]:
  """The corpus's pieces in order: {"file", "size", "range"} per file, or per document range of
  about `piece_bytes` of a larger plain file (range [start, end) in bytes, else None); a
  corpus other than text files (built-in, TFDS) is one piece."""
  if not isinstance(text, corpora.TextFiles):
    return [dict(file=None, size=1, range=None)]
  from etils import epath

  out = []
  for p in text.paths:
    try:
      size = int(epath.Path(p).stat().length)
    except OSError:  # counted when read
      size = 0
    if p.endswith(".gz") or size <= piece_bytes:
      out.append(dict(file=p, size=size, range=None))
      continue
    cuts = corpus_files.document_boundaries(p, piece_bytes, text.doc_per_line)
    out.extend(dict(file=p, size=b - a, range=[a, b]) for a, b in zip(cuts, cuts[1:]))
  return out


def assign_pieces(sizes: list[int], num_shards: int) -> list[list[int]]:
  """Pieces per shard, balanced by size: largest first to the least loaded shard (ties: lowest
  index), each shard's pieces in corpus order. A pure function of the sizes and the count."""
  loads, out = [0] * num_shards, [[] for _ in range(num_shards)]
  for p in sorted(range(len(sizes)), key=lambda p: (-sizes[p], p)):
    s = min(range(num_shards), key=lambda s: (loads[s], s))
    loads[s] += sizes[p]
    out[s].append(p)
  return [sorted(x) for x in out]


def resolve_tokenizer(o: dict, out: str, *, may_train: bool,
                      train_dir: str | None = None) -> Tokenizer:
  """The fixed tokenizer: the one in `tokenizer_dir`; else (may_train) one trained on the whole
  corpus (kept in tokenizer_dir, or under `train_dir` (default `out`) keyed by the corpus
  contents); else the one prepared in `out/tokenizer`."""
  from bertlab.data import pretraining_data as pd

  lowercase, requested = pd.resolve_case(o["family"], o["tokenizer_kind"], o["lowercase"])
  if o["tokenizer_dir"] and pd.has_tokenizer(o["tokenizer_dir"]):
    return pd.load_tokenizer(o["tokenizer_dir"], o["tokenizer_kind"], requested)
  if may_train:
    return pd.get_tokenizer(open_text(o), o["tokenizer_dir"], o["tokenizer_kind"],
                            o["vocab_size"], lowercase, requested, cache_dir=train_dir or out)
  if pd.has_tokenizer(files.join(out, "tokenizer")):
    return pd.load_tokenizer(files.join(out, "tokenizer"), o["tokenizer_kind"], requested)
  raise ValueError(
      "several hosts need one fixed tokenizer: set data.tokenizer_dir to a trained one, or run "
      "`python -m bertlab.data.prepare --config CONFIG --out DIR --tokenizer_only` first")


def save_tokenizer(tok: Tokenizer, out: str) -> None:
  """`out/tokenizer`, replaced if it holds another vocabulary."""
  path = files.join(out, "tokenizer")
  if files.isdir(path):
    if Tokenizer.load(mirror.pull(path)).fingerprint() == tok.fingerprint():
      return
    files.rmtree(path)
  with cache_lib.atomic_dir(path, last=TOKENIZER_LAST) as tmp:
    tok.save(tmp)


def prepare_shard(o: dict, out: str, tokenizer: Tokenizer, shard: int = 0,
                  num_shards: int = 1, progress: bool = False) -> dict:
  """Builds this shard's pieces under `out` (reusing pieces built before) and records the
  shard; returns the manifest if this call completed the set, else None."""
  if not 0 <= shard < num_shards:
    raise ValueError(f"shard: expected 0 <= i < N, got {shard}/{num_shards}")
  text = open_text(o)
  pieces = pieces_of(text, o.get("piece_bytes", PIECE_BYTES))
  plan = _hash(dict(v=FORMAT, pieces=[[p["size"], p["range"]] for p in pieces], n=num_shards,
                    examples=_example_options(o), tokenizer=tokenizer.fingerprint(),
                    corpus=o["corpus"]))
  mine = assign_pieces([p["size"] for p in pieces], num_shards)[shard]
  start = time.time()
  built = [_build_piece(o, text, pieces, k, tokenizer, out, progress) for k in mine]
  record = dict(plan=plan, shard=shard, num_shards=num_shards, pieces=built,
                unmatched=getattr(text, "unmatched", []), seconds=round(time.time() - start, 3))
  files.makedirs(files.join(out, "shards"))
  files.write_json(files.join(out, "shards", f"{plan}-{shard:05d}-of-{num_shards:05d}.json"), record)
  return write_manifest(out, plan, num_shards, tokenizer, o)


def _build_piece(o, text, pieces, k, tokenizer, out, progress) -> dict:
  piece = pieces[k]
  if piece["file"] is None:
    part, content = text, text.fingerprint()
  else:
    rng = tuple(piece["range"]) if piece["range"] else None
    part = corpora.TextFiles([piece["file"]], doc_per_line=o["doc_per_line"], glob=False,
                             byte_range=rng)
    content = corpus_files.content_fingerprint(piece["file"], rng)
  key = _hash(dict(v=FORMAT, cache=cache_lib.FORMAT_VERSION, content=content, piece=k,
                   tokenizer=tokenizer.fingerprint(), examples=_example_options(o)), 20)
  name = f"p{k:06d}-{key}"
  path = files.join(out, "pieces", name)
  if not files.isfile(files.join(path, "piece.json")):
    with cache_lib.atomic_dir(path, last="piece.json") as tmp:
      info = _tokenize_and_index(o, part, tokenizer, tmp, k, progress)
      _write_json(os.path.join(tmp, "piece.json"), info)
  info = files.read_json(files.join(path, "piece.json"))
  return dict(index=k, dir=name, file=piece["file"], range=piece["range"], **info)


def _tokenize_and_index(o, part, tokenizer, tmp, k, progress) -> dict:
  try:
    counts = cache_lib._tokenize(part, tokenizer, tmp, 8192, progress)
  except ValueError as e:  # nothing usable in this piece: counted, the others go on
    return dict(examples=0, tokens=0, index_bytes=0, skipped=str(e),
                stats=part.stats.to_dict())
  _write_json(os.path.join(tmp, "meta.json"), dict(
      format_version=cache_lib.FORMAT_VERSION, corpus=part.stats.to_dict(),
      tokenizer_fingerprint=tokenizer.fingerprint(), vocab_size=tokenizer.vocab_size, **counts))
  tokens = cache_lib.load_cache(tmp)
  w = example_index.IndexWriter(tokens, o["max_seq_len"], tokenizer.pad_id,
                                instances.LABEL_KEYS.get(o["family"]), cls_id=tokenizer.cls_id,
                                sep_id=tokenizer.sep_id)
  instances.write_examples(tokens, o["family"], w, np.random.default_rng([o["seed"], k]),
                           cls_id=tokenizer.cls_id, sep_id=tokenizer.sep_id,
                           short_seq_prob=o["short_seq_prob"], dupe_factor=o["dupe_factor"],
                           roberta_packing=o["roberta_packing"])
  if not len(w):
    return dict(examples=0, tokens=tokens.num_tokens, index_bytes=0,
                skipped="no example fits in this piece", stats=part.stats.to_dict())
  w.save(tmp)
  with open(os.path.join(tmp, "index.json")) as f:
    nbytes = json.load(f)["bytes"]
  return dict(examples=len(w), tokens=tokens.num_tokens, index_bytes=nbytes,
              stats=part.stats.to_dict())


def write_manifest(out: str, plan: str, num_shards: int, tokenizer: Tokenizer, o: dict):
  """Writes `out/manifest.json` if all shards of `plan` are recorded; returns it, or None."""
  records = []
  for i in range(num_shards):
    p = files.join(out, "shards", f"{plan}-{i:05d}-of-{num_shards:05d}.json")
    if not files.isfile(p):
      return None
    records.append(files.read_json(p))
  pieces = sorted((p for r in records for p in r["pieces"]), key=lambda p: p["index"])
  bad = [[p["file"] or "corpus", p["skipped"]] for p in pieces if p.get("skipped")]
  bad += [b for p in pieces for b in p["stats"].get("bad_files", [])]
  bad += records[0]["unmatched"]
  if not sum(p["examples"] for p in pieces):
    raise ValueError("no usable text in the corpus: " + "; ".join(f"{f}: {c}" for f, c in bad))
  save_tokenizer(tokenizer, out)
  counts = [[p["dir"], p["examples"]] for p in pieces]
  manifest = dict(
      format=FORMAT, plan=plan, options=_example_options(o), corpus=o["corpus"],
      pieces=[{k: p[k] for k in ("dir", "file", "range", "examples", "tokens", "index_bytes")}
              for p in pieces], skipped=bad, num_examples=sum(p["examples"] for p in pieces),
      num_tokens=sum(p["tokens"] for p in pieces),
      index_bytes=sum(p["index_bytes"] for p in pieces),
      fingerprints=dict(tokenizer=tokenizer.fingerprint(), data=_hash(counts, 32)))
  for f, c in bad:
    log.warning("prepare: skipped %s: %s", f, c)
  files.write_json(files.join(out, MANIFEST), manifest)
  return manifest


_write_json = files.write_json  # atomic: readers see the old or the new file, never half of one


def main(argv=None) -> int:
  from absl import flags
  from ml_collections import config_flags

  argv = sys.argv if argv is None else argv
  fl = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "training config (configs/...py)",
                                  flag_values=fl, lock_config=True, sys_argv=list(argv))
  flags.DEFINE_string("out", None, "directory of the prepared corpus", flag_values=fl)
  flags.DEFINE_string("shard", "0/1", "i/N: prepare shard i of N (one process or host each)",
                      flag_values=fl)
  flags.DEFINE_bool("tokenizer_only", False, "train the tokenizer into OUT/tokenizer and stop",
                    flag_values=fl)
  try:
    fl(argv)
    i, n = (int(x) for x in fl.shard.split("/"))
  except (flags.Error, ValueError, AttributeError, KeyError) as e:
    sys.exit(f"error: bad command line: {e}")
  if fl.config is None or not fl.out:
    sys.exit("usage: python -m bertlab.data.prepare --config CONFIG.py --out DIR [--shard i/N] "
             "[--tokenizer_only] [--config.KEY=VALUE ...]")
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
  o = options_from_config(fl.config)
  try:
    tok = resolve_tokenizer(o, fl.out, may_train=fl.tokenizer_only or n == 1)
    if fl.tokenizer_only:
      save_tokenizer(tok, fl.out)
      print(f"tokenizer ({tok.kind}, {tok.vocab_size} ids, fingerprint "
            f"{tok.fingerprint()[:16]}) in {files.join(fl.out, 'tokenizer')}")
      return 0
    start = time.time()
    manifest = prepare_shard(o, fl.out, tok, i, n, progress=True)
  except (ValueError, FileNotFoundError) as e:
    sys.exit(f"error: {e}")
  print(f"shard {i}/{n} prepared in {time.time() - start:.1f}s")
  if manifest:
    print(f"{fl.out}: all {n} shards done: {manifest['num_examples']} examples, "
          f"{manifest['num_tokens']} tokens, index {manifest['index_bytes'] / manifest['num_tokens']:.3f}"
          f" B/token; data fingerprint {manifest['fingerprints']['data']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
