"""Host batches from planned rows: read, mask, (pack), stack -- in this process or in workers.

The pipeline plans which global stream positions a host's next batch holds (cheap, in the
training process); building the batch (reading the examples, masking each with its own RNG,
packing) is a pure function of that plan, so it can run in worker processes, any number of
batches ahead, and still give exactly the batches a single thread gives. Workers are spawned
(not forked: the training process runs JAX's threads) and get the builder once, pickled.
"""

from __future__ import annotations

import collections
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bertlab.data import packing as packing_lib

EXAMPLE_KEY = "example_index"  # with debug_ids: the global stream position of each example


def example_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
  """The generator handed to `map_fn` for example `index` (in the source) during `epoch`."""
  return np.random.default_rng([seed, epoch, index])


def _stack(rows: list[dict]) -> dict:
  return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in rows[0]}


class BatchBuilder:
  """job -> host batch. A job holds the stream positions g, their (epoch, source index), and
  with packing the row sizes (examples per row, in order)."""

  def __init__(self, source, map_fn, seed: int, static: bool, spec, debug_ids: bool):
    self.source, self.map_fn, self.seed, self.static = source, map_fn, seed, static
    self.spec, self.debug_ids = spec, debug_ids

  def examples(self, epochs, index) -> list[dict]:
    out = []
    for e, i in zip(np.asarray(epochs).tolist(), np.asarray(index).tolist(), strict=True):
      ex = dict(self.source[i])
      if self.map_fn is not None:
        ex = self.map_fn(ex, example_rng(self.seed, 0 if self.static else e, i))
      out.append(ex)
    return out

  def __call__(self, job: dict) -> dict:
    examples = self.examples(job["epochs"], job["index"])
    g = job["g"]
    if job.get("row_sizes") is None:
      batch = _stack(examples)
      if self.debug_ids:
        batch[EXAMPLE_KEY] = g
      return batch
    out, k = [], 0
    for n in job["row_sizes"]:
      row = packing_lib.pack_row([packing_lib.trim(ex) for ex in examples[k:k + n]], self.spec)
      if self.debug_ids:
        row[EXAMPLE_KEY] = np.full(self.spec.max_examples, -1, np.int64)
        row[EXAMPLE_KEY][:n] = g[k:k + n]
      out.append(row)
      k += n
    return _stack(out)


_WORKER_BUILDER: BatchBuilder | None = None


def _init_worker(builder: BatchBuilder):
  global _WORKER_BUILDER
  _WORKER_BUILDER = builder


def _build_in_worker(job: dict) -> dict:
  return _WORKER_BUILDER(job)


class Workers:
  """`num_workers` spawned processes building batches, `ahead` jobs in flight, in order."""

  def __init__(self, builder: BatchBuilder, num_workers: int, ahead: int):
    self._pool = ProcessPoolExecutor(num_workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_init_worker, initargs=(builder,))
    self.ahead = ahead
    self._queue: collections.deque = collections.deque()

  def __len__(self):
    return len(self._queue)

  def submit(self, job: dict, after):
    self._queue.append((self._pool.submit(_build_in_worker, job), after))

  def pop(self):
    """(batch, position after it) of the oldest job."""
    future, after = self._queue.popleft()
    return future.result(), after

  def clear(self):
    while self._queue:
      self._queue.popleft()[0].cancel()

  def close(self):
    self.clear()
    self._pool.shutdown(wait=False, cancel_futures=True)
