"""Tokenize a corpus once into an on-disk, memory-mapped cache of documents of ids.

Layout of one cache directory `<cache_dir>/tokens-<key>/`:
  ids.npy               uint16 [T]   every token of every sentence, in corpus order (int32
                                     when the vocabulary has more than 65536 ids)
  word_starts.npy       bool  [T]    True on the first sub-token of each whole word
  sentence_offsets.npy  int64 [S+1]  sentence s is ids[sentence_offsets[s]:sentence_offsets[s+1]]
  doc_offsets.npy       int64 [D+1]  document d is sentences doc_offsets[d] .. doc_offsets[d+1]-1
  meta.json             the corpus summary, tokenizer fingerprint and counts
The key hashes the corpus fingerprint (file sizes + contents, or TFDS name/split), the tokenizer
fingerprint and the options, so a changed input gets a new cache and an unchanged one is reused.
A cache is written into a temporary directory and renamed into place: a killed run leaves no
half cache (at most a `.tmp-*` directory, ignored and safe to delete).
"""

from __future__ import annotations

import array
import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import struct
import tempfile
import time
import uuid
from collections.abc import Iterator

import numpy as np

from bertlab.storage import files, mirror

FORMAT_VERSION = 2  # 2: ids uint16 where the vocabulary allows
_KEYS = ("ids", "word_starts", "sentence_offsets", "doc_offsets")


@dataclasses.dataclass(frozen=True)
class TokenCache:
  """Memory-mapped documents of token ids; nothing is read into memory until indexed."""

  path: str
  ids: np.ndarray  # uint16 (int32 for vocabularies over 65536 ids) [T]
  word_starts: np.ndarray  # bool [T]
  sentence_offsets: np.ndarray  # int64 [S+1]
  doc_offsets: np.ndarray  # int64 [D+1]
  meta: dict

  @property
  def num_documents(self) -> int:
    return len(self.doc_offsets) - 1

  @property
  def num_sentences(self) -> int:
    return len(self.sentence_offsets) - 1

  @property
  def num_tokens(self) -> int:
    return len(self.ids)

  def document(self, d: int) -> list[np.ndarray]:
    """Document d as a list of id arrays, one per sentence (views, no copy)."""
    s0, s1 = int(self.doc_offsets[d]), int(self.doc_offsets[d + 1])
    offs = self.sentence_offsets[s0:s1 + 1]
    return [self.ids[offs[i]:offs[i + 1]] for i in range(s1 - s0)]


def load_cache(path: str) -> TokenCache:
  """Opens a cache directory written by `build_cache` (arrays memory-mapped read-only)."""
  with open(os.path.join(path, "meta.json")) as f:
    meta = json.load(f)
  if meta.get("format_version") != FORMAT_VERSION:
    raise ValueError(f"{path}: cache format {meta.get('format_version')}, expected "
                     f"{FORMAT_VERSION}; delete the directory to rebuild it")
  arrays = {k: np.load(os.path.join(path, k + ".npy"), mmap_mode="r") for k in _KEYS}
  return TokenCache(path=path, meta=meta, **arrays)


def cache_key(corpus, tokenizer, **options) -> str:
  """20 hex digits of sha256 over the corpus, the tokenizer and the options."""
  blob = json.dumps(dict(v=FORMAT_VERSION, corpus=corpus.fingerprint(),
                         tokenizer=tokenizer.fingerprint(), options=options), sort_keys=True)
  return hashlib.sha256(blob.encode()).hexdigest()[:20]


def build_cache(corpus, tokenizer, cache_dir: str, *, batch_sentences: int = 8192,
                progress: bool = True) -> TokenCache:
  """Tokenizes `corpus` with `tokenizer` into `cache_dir`, or reuses a cache built before.

  corpus: a `bertlab.data.corpora.Corpus`; tokenizer: a `bertlab.data.tokenizers.Tokenizer`.
  batch_sentences: sentences per `encode_flat` call (the Rust tokenizer spreads a batch over
    all cores). Sentences that tokenize to nothing and documents left empty are dropped and
    counted in meta["dropped"].
  """
  path = os.path.join(cache_dir, "tokens-" + cache_key(corpus, tokenizer))
  if os.path.isdir(path):
    return load_cache(path)
  start = time.time()
  with atomic_dir(path) as tmp:
    counts = _tokenize(corpus, tokenizer, tmp, batch_sentences, progress)
    meta = dict(format_version=FORMAT_VERSION, corpus=corpus.stats.to_dict(),
                corpus_fingerprint=corpus.fingerprint(), tokenizer_kind=tokenizer.kind,
                tokenizer_fingerprint=tokenizer.fingerprint(), vocab_size=tokenizer.vocab_size,
                build_seconds=round(time.time() - start, 3), **counts)
    with open(os.path.join(tmp, "meta.json"), "w") as f:
      json.dump(meta, f, indent=2)
  return load_cache(path)


def _tokenize(corpus, tokenizer, out: str, batch_sentences: int, progress: bool) -> dict:
  from tqdm import tqdm

  sent_lengths = array.array("q")  # compact: 8 bytes a sentence, not a Python int each
  doc_sizes = array.array("q")
  dropped = dict(empty_sentences=0, empty_documents=0)
  pending: list[str] = []
  pending_docs: list[int] = []  # sentences per document in `pending`, in order
  bar = tqdm(desc="tokenizing", unit=" docs", disable=not progress, mininterval=1.0)
  with NpyWriter(os.path.join(out, "ids.npy"), ids_dtype(tokenizer.vocab_size)) as ids_w, \
      NpyWriter(os.path.join(out, "word_starts.npy"), np.bool_) as ws_w:

    def flush():
      ids, ws, lengths = tokenizer.encode_flat(pending)
      keep = lengths > 0  # zero-length sentences carry no ids: drop them from the offsets
      ids_w.write(ids)
      ws_w.write(ws)
      dropped["empty_sentences"] += int((~keep).sum())
      i = 0
      for n in pending_docs:
        k = keep[i:i + n]
        if k.any():
          sent_lengths.extend(lengths[i:i + n][k].tolist())
          doc_sizes.append(int(k.sum()))
        else:
          dropped["empty_documents"] += 1
        i += n
      bar.update(len(pending_docs))
      bar.set_postfix(tokens=ids_w.count, refresh=False)
      pending.clear()
      pending_docs.clear()

    # Byte BPE encodes the space before a word into its first token ("Ġword"); sentences after
    # the first of a document get their space back, so packed text reads as running text.
    space = " " if tokenizer.kind == "bpe" else ""
    for doc in corpus.documents():
      pending.append(doc[0])
      pending.extend(space + s for s in doc[1:])
      pending_docs.append(len(doc))
      if len(pending) >= batch_sentences:
        flush()
    if pending:
      flush()
    num_tokens = ids_w.count
  bar.close()
  if not doc_sizes:
    raise ValueError(f"empty corpus after tokenization: {corpus.stats.inputs} gave no tokens "
                     f"({corpus.stats.summary()}); expected text the tokenizer can encode")
  offsets = np.zeros(len(sent_lengths) + 1, np.int64)
  np.cumsum(np.frombuffer(sent_lengths, np.int64), out=offsets[1:])
  doc_offsets = np.zeros(len(doc_sizes) + 1, np.int64)
  np.cumsum(np.frombuffer(doc_sizes, np.int64), out=doc_offsets[1:])
  assert offsets[-1] == num_tokens, (offsets[-1], num_tokens)
  np.save(os.path.join(out, "sentence_offsets.npy"), offsets)
  np.save(os.path.join(out, "doc_offsets.npy"), doc_offsets)
  return dict(num_tokens=int(num_tokens), num_sentences=len(sent_lengths),
              num_documents=len(doc_sizes), dropped=dropped)


def ids_dtype(vocab_size: int) -> np.dtype:
  """uint16 where every id fits (2 bytes a token instead of 4), else int32."""
  return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.int32)


@contextlib.contextmanager
def atomic_dir(final: str, last: str | None = None) -> Iterator[str]:
  """Yields a fresh temporary directory beside `final` and renames it to `final` on success.

  On an exception the temporary directory is removed. If another process created `final`
  meanwhile, its result is kept and ours discarded (both are built from the same key). An
  existing empty `final` is replaced. A remote `final` (`gs://...`) is built in a local
  temporary directory and uploaded with `last`, the file readers take as the sign of a
  complete folder, at the end (`bertlab.storage.mirror.publish`).
  """
  if files.is_remote(final):
    os.makedirs(mirror.root(), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=mirror.root())
    try:
      yield tmp
      done = files.isfile(files.join(final, last)) if last else bool(files.listdir(final))
      if not done:
        mirror.publish(tmp, final, last)
    finally:
      shutil.rmtree(tmp, ignore_errors=True)
    return
  final = os.path.abspath(final)  # also drops a trailing slash
  parent = os.path.dirname(final)
  os.makedirs(parent, exist_ok=True)
  tmp = os.path.join(parent, f".tmp-{os.path.basename(final)}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
  os.makedirs(tmp)
  try:
    yield tmp
    mirror.publish(tmp, final)
  finally:
    if os.path.isdir(tmp):
      shutil.rmtree(tmp, ignore_errors=True)


class NpyWriter:
  """Streams an array of unknown length (rows of `row_shape`) into a `.npy` file, readable by
  np.load and mmap. The header is written with room for any length and fixed on close."""

  _HEADER_BYTES = 128  # magic (6) + version (2) + length (2) + padded dict; a multiple of 64

  def __init__(self, path: str, dtype, row_shape: tuple[int, ...] = ()):
    self.path, self.dtype, self.row_shape, self.count = path, np.dtype(dtype), tuple(row_shape), 0
    self._f = open(path, "wb")
    self._write_header()

  def _write_header(self):
    d = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
         "shape": (self.count, *self.row_shape)}
    text = repr(d).encode("latin1")
    room = self._HEADER_BYTES - 10
    text = text + b" " * (room - len(text) - 1) + b"\n"
    self._f.seek(0)
    self._f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", room) + text)

  def write(self, arr: np.ndarray) -> None:
    """Appends rows: arr is [n, *row_shape] (or any shape with that many elements)."""
    arr = np.ascontiguousarray(arr, dtype=self.dtype)
    size = int(np.prod(self.row_shape, dtype=np.int64))
    if arr.size % max(size, 1):
      raise ValueError(f"{self.path}: expected rows of shape {self.row_shape}, got {arr.shape}")
    self._f.write(arr.tobytes())
    self.count += arr.size // max(size, 1)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self._write_header()
    self._f.close()
