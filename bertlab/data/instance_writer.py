"""Accumulating fixed-length examples into [N, L] arrays: what every family's builder writes to."""

from __future__ import annotations

import os

import numpy as np

from bertlab.data.cache import NpyWriter, TokenCache

BASE_KEYS = ("input_ids", "token_type_ids", "attention_mask", "word_starts", "special_mask")


def fill_row(blk: dict[str, np.ndarray], r: int, parts, ids: np.ndarray, ws: np.ndarray,
             L: int) -> None:
  """Writes one example given as parts into row r of `blk` (rows pre-filled as padding: pad ids,
  zeros, special_mask True). The one place that turns parts into dense arrays, shared by the
  dense writer and the compact example index (`bertlab.data.example_index`)."""
  pos = 0
  for a, b, t in parts:
    if b < 0:
      blk["input_ids"][r, pos] = a
      blk["token_type_ids"][r, pos] = t
      pos += 1
      continue
    n = b - a
    if pos + n > L:
      raise AssertionError(f"example longer than max_seq_len={L}: parts {parts}")
    blk["input_ids"][r, pos:pos + n] = ids[a:b]
    blk["word_starts"][r, pos:pos + n] = ws[a:b]
    blk["word_starts"][r, pos] = True
    blk["special_mask"][r, pos:pos + n] = False
    blk["token_type_ids"][r, pos:pos + n] = t
    pos += n
  blk["attention_mask"][r, :pos] = 1


def empty_rows(n: int, L: int, pad_id: int, label_key: str | None) -> dict[str, np.ndarray]:
  """n rows of padding in the instance arrays' dtypes."""
  keys = BASE_KEYS + ((label_key,) if label_key else ())
  out = {k: np.zeros((n,) if k == label_key else (n, L), _dtype(k)) for k in keys}
  out["input_ids"][:] = pad_id
  out["special_mask"][:] = True  # pads are special
  return out


def _dtype(key):
  return np.bool_ if key in ("word_starts", "special_mask") else np.int32


class InstanceWriter:
  """Accumulates examples described as parts into [N, L] arrays, block by block.

  A part is (a, b, token_type): b >= 0 is the cache's token range [a, b); b < 0 is the single
  special token id a. With `out_dir`, each full block goes to `<key>.npy` files there at once
  and `finish` returns them memory-mapped, so memory stays at one block whatever N is.
  """

  def __init__(self, cache: TokenCache, max_seq_len: int, pad_id: int,
               label_key: str | None = None, out_dir: str | None = None, block: int = 4096):
    self.ids, self.ws = cache.ids, cache.word_starts
    self.L, self.pad_id, self.label_key, self.block = max_seq_len, pad_id, label_key, block
    self.keys = BASE_KEYS + ((label_key,) if label_key else ())
    self.out_dir = out_dir
    self._files = {}
    if out_dir:
      self._files = {k: NpyWriter(os.path.join(out_dir, k + ".npy"), self._dtype(k),
                                  () if k == label_key else (max_seq_len,)) for k in self.keys}
    self._done: list[dict[str, np.ndarray]] = []  # full blocks kept in memory (no out_dir)
    self._blk: dict[str, np.ndarray] | None = None
    self._n = 0  # rows used in the current block
    self.count = 0

  def _dtype(self, key):
    return _dtype(key)

  def _new_block(self):
    if self._blk is not None:
      self._retire(self._blk)
    self._blk = empty_rows(self.block, self.L, self.pad_id, self.label_key)
    self._n = 0

  def _retire(self, blk, rows=None):
    if self.out_dir:
      for k, w in self._files.items():
        w.write(blk[k][:rows])
    else:
      self._done.append({k: v[:rows] for k, v in blk.items()})

  def add(self, parts: list[tuple[int, int, int]], label: int = 0) -> None:
    if self._blk is None or self._n == self.block:
      self._new_block()
    fill_row(self._blk, self._n, parts, self.ids, self.ws, self.L)
    if self.label_key:
      self._blk[self.label_key][self._n] = label
    self._n += 1
    self.count += 1

  def __len__(self) -> int:
    return self.count

  def finish(self) -> dict[str, np.ndarray]:
    if self.count == 0:
      raise ValueError("no example could be built: the corpus is too small for this family "
                       "(e.g. a single one-token document); give it more text")
    self._retire(self._blk, self._n)
    self._blk = None
    if self.out_dir:
      for w in self._files.values():
        w.__exit__(None, None, None)
      return {k: np.load(w.path, mmap_mode="r") for k, w in self._files.items()}
    out = {k: np.concatenate([b[k] for b in self._done]) for k in self.keys}
    self._done = []
    return out
