"""Compact examples: what defines an example (token ranges of the cache, separators, label), not
its dense rows. Rows are built from the token cache when an example is read.

An example as the builders describe it is `[CLS]` followed by token ranges of the cache, each
optionally followed by a `[SEP]` of the range's token type (pairs: `[CLS] A [SEP] B [SEP]`;
packing: `[CLS] s1 s2 [SEP] s3 [SEP]` with sentences as ranges). On disk, in a directory:
  range_starts.npy   int64  [R]    first cache token of each range
  range_lengths.npy  uint16 [R]    tokens in it (< max_seq_len <= 65536)
  range_flags.npy    uint8  [R]    bit 0: token type; bit 1: a [SEP] follows the range
  example_ranges.npy int64  [N+1]  example i is ranges example_ranges[i] .. example_ranges[i+1]-1
  labels.npy         uint8  [N]    NSP/SOP label (0 where the family has none)
  index.json         L, special ids, label key, counts
About 11 bytes a range and 9 an example: 0.2-0.5 bytes per corpus token at L = 128, where the
dense rows take 15-19 (`InstanceWriter`: ids, types, mask as int32 and two bool masks).
`__getitem__` rebuilds exactly the rows `InstanceWriter` would have written (one shared
`fill_row`), so the pipeline sees the same examples either way.
"""

from __future__ import annotations

import array
import json
import os

import numpy as np

from bertlab.data.cache import TokenCache
from bertlab.data.instance_writer import empty_rows, fill_row

_FILES = ("range_starts", "range_lengths", "range_flags", "example_ranges", "labels")
_TYPE, _SEP = 1, 2


class IndexWriter:
  """Records examples given as parts (the `InstanceWriter.add` interface) as ranges.

  A part is (a, b, token_type): b >= 0 is the cache's token range [a, b); b < 0 is the special
  token id a, which must be [CLS] first and otherwise a [SEP] right after a range of its type.
  """

  def __init__(self, cache: TokenCache, max_seq_len: int, pad_id: int,
               label_key: str | None = None, *, cls_id: int, sep_id: int):
    if max_seq_len > 1 << 16:
      raise ValueError(f"max_seq_len: at most 65536 for uint16 range lengths, got {max_seq_len}")
    self.cache, self.L, self.pad_id, self.label_key = cache, max_seq_len, pad_id, label_key
    self.cls_id, self.sep_id = cls_id, sep_id
    self._starts, self._lens = array.array("q"), array.array("H")
    self._flags, self._labels = array.array("B"), array.array("B")
    self._firsts = array.array("q", [0])
    self.count = 0

  def add(self, parts: list[tuple[int, int, int]], label: int = 0) -> None:
    if not parts or parts[0] != (self.cls_id, -1, 0):
      raise AssertionError(f"an example starts with ({self.cls_id}, -1, 0) ([CLS]): {parts}")
    last_range = False
    for a, b, t in parts[1:]:
      if b >= 0:
        self._starts.append(a)
        self._lens.append(b - a)
        self._flags.append(t & _TYPE)
        last_range = True
      elif a == self.sep_id and last_range and (self._flags[-1] & _TYPE) == t:
        self._flags[-1] |= _SEP
        last_range = False
      else:
        raise AssertionError(f"a special token other than [SEP] after a range, or a [SEP] of "
                             f"another type: {parts}")
    self._firsts.append(len(self._starts))
    self._labels.append(int(label))
    self.count += 1

  def __len__(self) -> int:
    return self.count

  def save(self, directory: str) -> None:
    if self.count == 0:
      raise ValueError("no example could be built: the corpus is too small for this family "
                       "(e.g. a single one-token document); give it more text")
    arrays = dict(range_starts=np.frombuffer(self._starts, np.int64),
                  range_lengths=np.frombuffer(self._lens, np.uint16),
                  range_flags=np.frombuffer(self._flags, np.uint8),
                  example_ranges=np.frombuffer(self._firsts, np.int64),
                  labels=np.frombuffer(self._labels, np.uint8))
    for k, v in arrays.items():
      np.save(os.path.join(directory, k + ".npy"), v)
    with open(os.path.join(directory, "index.json"), "w") as f:
      json.dump(dict(max_seq_len=self.L, pad_id=self.pad_id, cls_id=self.cls_id,
                     sep_id=self.sep_id, label_key=self.label_key, num_examples=self.count,
                     num_ranges=len(self._starts),
                     bytes=int(sum(v.nbytes for v in arrays.values()))), f, indent=2)


class ExampleIndex:
  """Random access to the examples of one index directory over its token cache: item i is a
  dict of dense rows {input_ids, token_type_ids, attention_mask, word_starts, special_mask
  [, label_key]} exactly as `InstanceWriter` writes them."""

  def __init__(self, directory: str, cache: TokenCache):
    self._dir, self._cache_path = directory, cache.path
    with open(os.path.join(directory, "index.json")) as f:
      self.meta = json.load(f)
    # Plain ndarray views of the memory maps: indexing a np.memmap costs ~10x more per call.
    a = {k: np.asarray(np.load(os.path.join(directory, k + ".npy"), mmap_mode="r"))
         for k in _FILES}
    self._starts, self._lens, self._flags = a["range_starts"], a["range_lengths"], a["range_flags"]
    self._first, self._labels = a["example_ranges"], a["labels"]
    self._ids, self._ws = np.asarray(cache.ids), np.asarray(cache.word_starts)
    m = self.meta
    self.L, self.label_key = m["max_seq_len"], m["label_key"]
    self._specials = (m["pad_id"], m["cls_id"], m["sep_id"])

  def __reduce__(self):
    # Pickled by path (worker processes reopen the memory maps), never by its arrays' contents.
    if not os.path.isdir(str(self._cache_path)):
      raise TypeError(f"an ExampleIndex over an in-memory cache ({self._cache_path}) cannot be "
                      "sent to another process")
    return _reopen, (self._dir, self._cache_path)

  @property
  def nbytes(self) -> int:
    return sum(int(np.asarray(x).nbytes) for x in (self._starts, self._lens, self._flags,
                                                   self._first, self._labels))

  def __len__(self) -> int:
    return len(self._first) - 1

  def lengths(self) -> np.ndarray:
    """Real (non-pad) tokens of every example, int64 [N], from the index alone (packing plans
    its rows with these before reading any example): [CLS] + the ranges + their [SEP]s."""
    per_range = self._lens.astype(np.int64) + ((self._flags & _SEP) > 0)
    c = np.concatenate([[0], np.cumsum(per_range)])
    return np.minimum(self.L, 1 + c[self._first[1:]] - c[self._first[:-1]])

  def parts(self, i: int) -> list[tuple[int, int, int]]:
    """Example i as the builders described it."""
    _, cls_id, sep_id = self._specials
    r0, r1 = int(self._first[i]), int(self._first[i + 1])
    out = [(cls_id, -1, 0)]
    for a, n, f in zip(self._starts[r0:r1].tolist(), self._lens[r0:r1].tolist(),
                       self._flags[r0:r1].tolist()):
      out.append((a, a + n, f & _TYPE))
      if f & _SEP:
        out.append((sep_id, -1, f & _TYPE))
    return out

  def __getitem__(self, i: int) -> dict[str, np.ndarray]:
    i = int(i)
    if not 0 <= i < len(self):
      raise IndexError(f"example {i} of {len(self)}")
    blk = empty_rows(1, self.L, self._specials[0], self.label_key)
    fill_row(blk, 0, self.parts(i), self._ids, self._ws, self.L)
    row = {k: v[0] for k, v in blk.items()}
    if self.label_key:
      row[self.label_key] = np.int32(self._labels[i])
    return row


def _reopen(directory: str, cache_path: str) -> ExampleIndex:
  from bertlab.data.cache import load_cache

  return ExampleIndex(directory, load_cache(cache_path))


class Concat:
  """Several random-access sources as one, in order (e.g. the pieces of a prepared corpus)."""

  def __init__(self, sources):
    self.sources = list(sources)
    self._ends = np.cumsum([len(s) for s in self.sources])

  def __len__(self) -> int:
    return int(self._ends[-1]) if len(self._ends) else 0

  def __getitem__(self, i: int):
    i = int(i)
    if not 0 <= i < len(self):
      raise IndexError(f"example {i} of {len(self)}")
    s = int(np.searchsorted(self._ends, i, side="right"))
    return self.sources[s][i - (int(self._ends[s - 1]) if s else 0)]

  def lengths(self) -> np.ndarray:
    return np.concatenate([s.lengths() for s in self.sources]) if self.sources else (
        np.zeros(0, np.int64))


class Slice:
  """Examples lo .. hi-1 of a random-access source (a view, nothing copied)."""

  def __init__(self, source, lo: int, hi: int):
    if not 0 <= lo <= hi <= len(source):
      raise ValueError(f"slice [{lo}, {hi}) of {len(source)} examples")
    self.source, self.lo, self.hi = source, lo, hi

  def __len__(self) -> int:
    return self.hi - self.lo

  def __getitem__(self, i: int):
    i = int(i)
    if not 0 <= i < len(self):
      raise IndexError(f"example {i} of {len(self)}")
    return self.source[self.lo + i]

  def lengths(self) -> np.ndarray:
    return np.asarray(self.source.lengths())[self.lo:self.hi]
