"""When to save and stop: a SIGTERM (pre-emption, `kill`) seen by any process stops them all.

A multi-process run agrees on the step: each process stopping on its own flag would enter the
collective save (and the next step's collectives) alone and hang. With JAX's preemption
service (on by default with `jax.distributed`), its SIGTERM notifier tells every process and
`reached_preemption_sync_point(step)` turns True on all of them at the same step; no Python
handler is installed then, since one would replace the notifier. Without the service, the
per-process flag is all-gathered (max) at every step boundary. A single process keeps a plain
Python handler, chained to any Python handler that was there before.
"""

from __future__ import annotations

import signal

import jax
import numpy as np


def _sync_manager():
  """JAX's preemption sync manager when this is a multi-process run that has one, else None."""
  if jax.process_count() == 1:
    return None
  try:
    from jax._src import distributed
  except ImportError:  # a JAX without the module: fall back to the all-gather
    return None
  return getattr(distributed.global_state, "preemption_sync_manager", None)


class StopSignal:
  """`should_stop(step)` at each step boundary; the same answer on every process."""

  def __init__(self):
    self.requested = False
    self._sync = _sync_manager()
    self._previous = None
    if self._sync is None:
      self._previous = signal.getsignal(signal.SIGTERM)
      signal.signal(signal.SIGTERM, self._handle)

  @property
  def mode(self) -> str:
    if self._sync is not None:
      return "jax-preemption-sync"
    return "all-gather" if jax.process_count() > 1 else "local"

  def _handle(self, signum, frame):
    self.requested = True
    if callable(self._previous):  # chain (SIG_DFL / SIG_IGN are not callables)
      self._previous(signum, frame)

  def should_stop(self, step: int) -> bool:
    if self._sync is not None:
      from jax.experimental import multihost_utils

      self.requested = self.requested or multihost_utils.reached_preemption_sync_point(step)
      return self.requested
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils

      flags = multihost_utils.process_allgather(np.int32(self.requested))
      return bool(np.max(flags))
    return self.requested

  def restore(self):
    if self._sync is None:
      signal.signal(signal.SIGTERM, self._previous)
