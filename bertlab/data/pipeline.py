"""The grain input pipeline: shuffle by seed, shard per host, transform, batch, resume exactly.

  source (dict of [N, ...] arrays) -> shuffle(seed), a new order each epoch -> this host's slice
  (process_index::process_count) -> repeat(num_epochs) -> map_fn(example, rng) -> batch of
  global_batch_size // process_count -> iterator with JSON-serialisable get_state()/set_state().

Every host shuffles identically and takes a disjoint slice, so hosts together see each example
once per epoch (the N % process_count examples left over by an even split are left out of that
epoch, different ones each epoch). A restored iterator continues with exactly the next batch,
including the output of `map_fn`, whose rng depends only on (seed, epoch, example index).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import grain
import numpy as np

from bertlab.data import packing as packing_lib
from bertlab.data.pretraining_data import build_pretraining_data  # noqa: F401  (public entry)

Example = dict[str, np.ndarray]
MapFn = Callable[[Example, np.random.Generator], Example]
INDEX_KEY = "_index"


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
    ex = {k: v[i] for k, v in self._arrays.items()}
    ex[INDEX_KEY] = np.int64(i)
    return ex


class IndexedSource:
  """Any random-access source (`len()`, `source[i]` -> dict of arrays, e.g. a prepared corpus's
  compact examples) with the example's index added, as `ArraySource` adds it."""

  def __init__(self, source):
    if not len(source):
      raise ValueError("expected a non-empty source of examples, got an empty one")
    self._source = source

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, i: int) -> Example:
    ex = dict(self._source[int(i)])
    ex[INDEX_KEY] = np.int64(i)
    return ex


def example_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
  """The generator handed to `map_fn` for example `index` (in the source) during `epoch`."""
  return np.random.default_rng([seed, epoch, index])


def make_dataset(arrays: Mapping[str, np.ndarray], *, global_batch_size: int, seed: int,
                 num_epochs: int | None = None, process_index: int | None = None,
                 process_count: int | None = None, map_fn: MapFn | None = None,
                 drop_remainder: bool = True, num_threads: int = 0,
                 packing: packing_lib.PackingSpec | None = None) -> grain.IterDataset:
  """The per-host batched dataset; `iter()` it for a checkpointable iterator.

  arrays: the instances (e.g. from `build_pretraining_data`), [N, ...] each, or any
    random-access source of example dicts (e.g. `bertlab.data.prepared.Prepared.examples`).
  global_batch_size: examples per step over all hosts; each host batches
    global_batch_size // process_count of them.
  num_epochs: None repeats forever.
  process_index, process_count: default `jax.process_index()`, `jax.process_count()`.
  map_fn: host-side per-example transform `map_fn(example, rng) -> example` (e.g. dynamic
    masking); rng = `example_rng(seed, epoch, index)`, so it is reproducible after a restore
    and differs between epochs.
  num_threads: grain reader threads; 0 reads in the calling thread (best for in-memory arrays).
  packing: pack the (masked) examples into rows of this capacity (`bertlab.data.packing`);
    a batch is then `batch` rows holding a varying number of examples.
  """
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
  source = ArraySource(arrays) if isinstance(arrays, Mapping) else IndexedSource(arrays)
  per_epoch = len(source) - len(source) % process_count
  per_host = per_epoch // process_count
  batch = global_batch_size // process_count
  if per_host == 0 or (drop_remainder and num_epochs is not None and per_host * num_epochs < batch):
    raise ValueError(f"{len(source)} examples over {process_count} hosts cannot fill one batch "
                     f"of {batch} per host; use more data or a smaller batch")

  ds = grain.MapDataset.source(source).shuffle(seed=seed)
  # Slicing a shuffled dataset keeps its per-epoch reshuffle: grain maps index k of epoch e to
  # position k + e * len in the parent, and the shuffle seeds epoch e with seed + e.
  ds = ds[:per_epoch][process_index::process_count].repeat(num_epochs)

  def transform(k: int, ex: Example) -> Example:
    index = int(ex.pop(INDEX_KEY))
    if map_fn is None:
      return ex
    return map_fn(ex, example_rng(seed, k // per_host, index))

  ds = ds.map_with_index(transform)
  read = grain.ReadOptions(num_threads=num_threads,
                           prefetch_buffer_size=max(2 * batch, 16) if num_threads else 0)
  if packing is None:
    return ds.batch(batch, drop_remainder=drop_remainder).to_iter_dataset(read)
  ds = ds.map(packing_lib.trim)
  rows = packing_lib.pack(ds.to_iter_dataset(read), packing, ds[0], seed=seed)
  return rows.batch(batch, drop_remainder=drop_remainder)


def make_iterator(arrays: Mapping[str, np.ndarray], **kwargs) -> grain.DatasetIterator:
  """`iter(make_dataset(arrays, **kwargs))`: batches of {key: [B, ...]} with get_state()
  (a JSON-serialisable dict) and set_state(state) to resume at the next batch."""
  return iter(make_dataset(arrays, **kwargs))
