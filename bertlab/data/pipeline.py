"""The input pipeline: one global example stream (data/stream.py), each host reading its rows.

  source (dict of [N, ...] arrays, or any random-access source: len() and [i] -> dict)
    -> the global stream: a new order of the N examples each epoch, by seed
    -> map_fn(example, example_rng(seed, epoch, index)) (masking), optionally packed
    -> global batch s = the next global_batch_size rows; this host takes rows [lo, hi)
    -> an iterator with JSON-serialisable get_state()/set_state().

The global batch at step s holds the same examples in the same rows whatever the number of
hosts, and the saved position (examples consumed; (window, row) when packed) is global, so a
run restored with another host count or batch size continues at the same example. A restored
iterator continues with exactly the next batch, including the output of `map_fn`, whose rng
depends only on (seed, epoch, example index) -- or (seed, 0, index) with `static_masks`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from bertlab.data import packing as packing_lib
from bertlab.data import stream as stream_lib
from bertlab.data.batch_builder import EXAMPLE_KEY, BatchBuilder, Workers, example_rng
from bertlab.data.pretraining_data import build_pretraining_data  # noqa: F401  (public entry)

Example = dict[str, np.ndarray]
MapFn = Callable[[Example, np.random.Generator], Example]
__all__ = ["EXAMPLE_KEY", "ArraySource", "example_rng", "make_dataset", "make_iterator"]


class ArraySource:
  """Random-access source over a dict of equally long arrays: item i is {key: array[i]}."""

  def __init__(self, arrays: Mapping[str, np.ndarray]):
    lengths = {k: len(v) for k, v in arrays.items()}
    if not lengths or len(set(lengths.values())) != 1:
      raise ValueError(f"expected a non-empty dict of arrays of one length, got lengths {lengths}")
    self._arrays = dict(arrays)
    self._n = next(iter(lengths.values()))

  def __len__(self) -> int:
    return self._n

  def __getitem__(self, i: int) -> Example:
    return {k: v[i] for k, v in self._arrays.items()}

  def lengths(self) -> np.ndarray:
    """Real (non-pad) tokens of every example, int [N]."""
    return np.asarray(self._arrays["attention_mask"]).sum(axis=1)

  def prediction_counts(self) -> np.ndarray | None:
    """Predictions already in the data (static masks), int [N], or None."""
    w = self._arrays.get("mlm_weights")
    return None if w is None else (np.asarray(w) > 0).sum(axis=1)


def as_source(data):
  """A dict of arrays -> ArraySource; any object with len() and [i] passes as it is."""
  if isinstance(data, Mapping):
    return ArraySource(data)
  if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
    raise TypeError(f"expected a dict of arrays or a random-access source (len() and [i]), "
                    f"got {type(data).__name__}")
  return data


class StreamDataset:
  """This host's view of the global stream; `iter()` it for a checkpointable iterator."""

  def __init__(self, source, *, global_batch_size, seed, num_epochs, rows, map_fn,
               drop_remainder, packing, predictions, static_masks, debug_ids, num_workers=0):
    self.source, self.batch, self.seed = source, global_batch_size, seed
    self.lo, self.hi = rows
    self.map_fn, self.drop_remainder, self.static = map_fn, drop_remainder, static_masks
    self.spec, self.debug_ids, self.num_workers = packing, debug_ids, num_workers
    n = len(source)
    self.total = None if num_epochs is None else n * num_epochs
    self.order = stream_lib.GlobalOrder(n, seed)
    self.plan = None
    if packing is not None:
      tokens = np.asarray(source.lengths() if hasattr(source, "lengths") else
                          [int(np.sum(source[i]["attention_mask"])) for i in range(n)], np.int64)
      if predictions is not None:
        budget = np.asarray(predictions(tokens), np.int64)
      elif map_fn is None and getattr(source, "prediction_counts", lambda: None)() is not None:
        budget = np.asarray(source.prediction_counts(), np.int64)
      else:  # no budget known: the example's own cap bounds it (rows hold fewer examples)
        budget = np.full(n, packing.max_predictions, np.int64)
      self.plan = stream_lib.PackedPlan(self.order, tokens, budget, packing, self.total)
    width = np.asarray(source[0]["input_ids"]).shape[-1]
    self.key = {"examples": n, "seed": seed, "max_seq_len": int(width),
                "packing": None if packing is None else [packing.max_seq_len,
                                                         packing.max_predictions,
                                                         packing.max_examples, packing.window],
                "static_masks": bool(static_masks)}

  def __iter__(self):
    return StreamIterator(self)


class StreamIterator:
  """Batches of this host's rows; get_state()/set_state() hold the global position.

  With `num_workers` the batches are built in worker processes, ahead of the loop; the
  batches and states are the same as without."""

  def __init__(self, ds: StreamDataset):
    self.ds, self.pos = ds, stream_lib.Position()
    self.builder = BatchBuilder(ds.source, ds.map_fn, ds.seed, ds.static, ds.spec, ds.debug_ids)
    self._workers = None
    self._planned = self.pos  # the position after the last job handed to the workers

  def __iter__(self):
    return self

  def _plan(self, pos: stream_lib.Position):
    """(job, position after it) for the next host batch from `pos`, or None at the end."""
    ds = self.ds
    if ds.plan is None:
      start = pos.examples
      end = start + ds.batch
      if ds.total is not None and end > ds.total:
        if ds.drop_remainder or start >= ds.total:
          return None
        end = ds.total
      g = np.arange(start + ds.lo, min(start + ds.hi, end))
      if not g.size:
        return None
      sizes, after = None, stream_lib.Position(end)
    else:
      rows, after = ds.plan.take(pos, ds.batch)
      mine = rows[ds.lo:ds.hi]
      if (len(rows) < ds.batch and ds.drop_remainder) or not mine:
        return None
      g, sizes = np.concatenate(mine), [len(r) for r in mine]
    epochs, index = ds.order(g)
    return {"g": g, "epochs": epochs, "index": index, "row_sizes": sizes}, after

  def __next__(self) -> Example:
    if self.ds.num_workers == 0:
      planned = self._plan(self.pos)
      if planned is None:
        raise StopIteration
      job, self.pos = planned
      return self.builder(job)
    if self._workers is None:
      self._workers = Workers(self.builder, self.ds.num_workers, 2 * self.ds.num_workers)
      self._planned = self.pos
    while len(self._workers) < self._workers.ahead:
      planned = self._plan(self._planned)
      if planned is None:
        break
      self._workers.submit(planned[0], planned[1])
      self._planned = planned[1]
    if not len(self._workers):
      raise StopIteration
    batch, self.pos = self._workers.pop()
    return batch

  def get_state(self) -> dict:
    return {"stream": dict(self.ds.key), **self.pos.to_json()}

  def set_state(self, state: dict):
    if not isinstance(state, dict) or state.get("stream") != self.ds.key:
      found = state.get("stream") if isinstance(state, dict) else state
      raise ValueError(f"the saved data position belongs to another stream: expected "
                       f"{self.ds.key}, found {found}")
    self.pos = self._planned = stream_lib.Position.from_json(state)
    if self._workers is not None:
      self._workers.clear()

  def stream_key(self) -> dict:
    return dict(self.ds.key)

  def close(self):
    if self._workers is not None:
      self._workers.close()
      self._workers = None


def make_dataset(data, *, global_batch_size: int, seed: int, num_epochs: int | None = None,
                 process_index: int | None = None, process_count: int | None = None,
                 rows: tuple[int, int] | None = None, map_fn: MapFn | None = None,
                 drop_remainder: bool = True,
                 packing: packing_lib.PackingSpec | None = None,
                 predictions: Callable[[np.ndarray], np.ndarray] | None = None,
                 static_masks: bool = False, debug_ids: bool = False,
                 num_workers: int = 0) -> StreamDataset:
  """This host's batched view of the global stream; `iter()` it for a checkpointable iterator.

  data: the instances: a dict of [N, ...] arrays (e.g. from `build_pretraining_data`) or any
    random-access source (`len()`, `[i] -> dict of arrays`; optional `lengths()` -> int [N]
    real tokens, used by packing).
  global_batch_size: rows per step over all hosts.
  num_epochs: None repeats forever.
  process_index, process_count: default `jax.process_index()`, `jax.process_count()`; host i
    takes rows [i * B / P, (i + 1) * B / P) of every global batch, unless `rows` = (lo, hi)
    names its rows (the rows its devices hold in the batch sharding).
  map_fn: host-side per-example transform `map_fn(example, rng) -> example` (e.g. dynamic
    masking); rng = `example_rng(seed, epoch, index)`, or (seed, 0, index) with
    `static_masks` (one mask per example for the whole run, BERT's static masking).
  packing: pack the (masked) examples into rows of this capacity (`bertlab.data.packing`).
  predictions: with packing, tokens int [N] -> each example's prediction budget (the
    masking's `num_to_predict`); without it the data's own masks (no map_fn) or the row
    capacity bound it.
  debug_ids: add `example_index`, the global stream position of every example ([B], packed
    [B, S] with -1 on empty slots): which examples a batch holds, for tests.
  num_workers: build batches (read, mask, pack) in this many spawned worker processes, ahead
    of the loop (`map_fn` and the source must pickle); 0 builds them in the calling thread.
  """
  if num_workers < 0:
    raise ValueError(f"num_workers: expected >= 0, got {num_workers}")
  if process_index is None or process_count is None:
    import jax

    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index: expected 0 <= index < {process_count}, got {process_index}")
  if global_batch_size % process_count:
    raise ValueError(f"global_batch_size {global_batch_size} is not divisible by the "
                     f"{process_count} processes; pick a multiple of process_count")
  if not 0 <= seed < 2**32:
    raise ValueError(f"seed: expected 0 <= seed < 2**32, got {seed}")
  source = as_source(data)
  per_host = global_batch_size // process_count
  if rows is None:
    rows = (process_index * per_host, (process_index + 1) * per_host)
  if not 0 <= rows[0] < rows[1] <= global_batch_size:
    raise ValueError(f"rows: expected 0 <= lo < hi <= {global_batch_size}, got {rows}")
  if (drop_remainder and num_epochs is not None and packing is None
      and len(source) * num_epochs < global_batch_size):
    raise ValueError(f"{len(source)} examples x {num_epochs} epoch(s) cannot fill one batch "
                     f"of {global_batch_size}; use more data or a smaller batch")
  return StreamDataset(source, global_batch_size=global_batch_size, seed=seed,
                       num_epochs=num_epochs, rows=tuple(rows), map_fn=map_fn,
                       drop_remainder=drop_remainder, packing=packing, predictions=predictions,
                       static_masks=static_masks, debug_ids=debug_ids,
                       num_workers=num_workers)


def make_iterator(data, **kwargs) -> StreamIterator:
  """`iter(make_dataset(data, **kwargs))`: batches of {key: [B, ...]} with get_state()
  (a JSON-serialisable dict) and set_state(state) to resume at the next batch."""
  return iter(make_dataset(data, **kwargs))
