"""Host-to-device prefetch: the next batches are read, masked and placed while a step runs.

A background thread pulls host batches from the data iterator and puts them on the devices
(`place`), up to `size` ahead, so the loop never waits on the input pipeline or on the
transfer unless the pipeline is slower than the step. Each batch travels with the iterator
state right after it, and `get_state()` answers for the last batch the loop *took*: a
checkpoint resumes at the first batch not trained on, however far the thread has read ahead.
"""

from __future__ import annotations

import queue
import threading

_END = object()


class Prefetcher:
  """Wraps an iterator with get_state()/set_state(); yields placed batches.

  size 0 reads and places each batch when it is asked for (no thread)."""

  def __init__(self, iterator, place, size: int = 2):
    if size < 0:
      raise ValueError(f"prefetch size must be >= 0, got {size}")
    self._it, self._place, self._size = iterator, place, size
    self._state = iterator.get_state()
    self._queue: queue.Queue | None = None
    self._thread: threading.Thread | None = None
    self._stop = threading.Event()

  def _start(self):
    self._queue = queue.Queue(self._size)
    self._stop.clear()
    self._thread = threading.Thread(target=self._fill, name="prefetch", daemon=True)
    self._thread.start()

  def _fill(self):
    try:
      while not self._stop.is_set():
        item = (self._place(next(self._it)), self._it.get_state())
        while not self._stop.is_set():
          try:
            self._queue.put(item, timeout=0.1)
            break
          except queue.Full:
            continue
    except StopIteration:
      self._queue.put(_END)
    except BaseException as e:  # surfaced to the training loop at its next batch
      self._queue.put(e)

  def __iter__(self):
    return self

  def __next__(self):
    if self._size == 0:
      batch = self._place(next(self._it))
      self._state = self._it.get_state()
      return batch
    if self._thread is None:
      self._start()
    item = self._queue.get()
    if item is _END:
      self._queue.put(_END)
      raise StopIteration
    if isinstance(item, BaseException):
      raise item
    batch, self._state = item
    return batch

  def get_state(self):
    return self._state

  def set_state(self, state):
    """Only before the first batch is taken (the loop restores, then trains)."""
    if self._thread is not None:
      raise RuntimeError("set_state after prefetching started")
    self._it.set_state(state)
    self._state = self._it.get_state()

  def close(self):
    if self._thread is not None:
      self._stop.set()
      self._thread.join(timeout=5)
    if hasattr(self._it, "close"):  # e.g. the pipeline's worker processes
      self._it.close()
