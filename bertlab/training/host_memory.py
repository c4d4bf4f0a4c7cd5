"""Keep freed host memory in the process, so XLA:CPU's per-step buffers stop page-faulting.

XLA:CPU mallocs a train step's temporaries on every call (about 1.4 GB at BERT-base, batch 8,
seq 128). glibc serves blocks over 32 MB with fresh mmaps and unmaps them on free, and each
worker thread allocates from its own arena, whose heaps shrink on free; so every step faulted
its temporaries back in, page by page: 365,000 minor faults and 0.7 s of kernel time in a
4.1 s step on this project's 2-core machine. One malloc arena that neither maps nor trims
large blocks serves the steps from memory the process already holds: 0 faults from the second
step on, 3.65-3.7 s per step. While its free space fragments the heap still grows by a block
now and then in the first steps (a step that faults again), then settles. The price is that the
process keeps its peak host memory until it exits, which a training run reaches anyway on
every step.

It must run before JAX starts its CPU client (a thread keeps the arena of its first malloc):
the drivers (train, finetune, distill, benchmarks) call it first. glibc only; elsewhere, or
with BERTLAB_HOST_MALLOC=default in the environment, it changes nothing; any other
value than 'retain' or 'default' is an error.
"""

from __future__ import annotations

import ctypes
import os

# mallopt parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
_SETTINGS = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1))


def _backend_started() -> bool:
  try:
    from jax._src import xla_bridge
    return bool(xla_bridge._backends)
  except (ImportError, AttributeError):  # a JAX without that internal: assume not yet
    return False


def retain_freed_memory() -> bool:
  """Set glibc's malloc to one arena, no mmap and no trimming. True if it was applied now."""
  choice = os.environ.get("BERTLAB_HOST_MALLOC", "retain").strip().lower() or "retain"
  if choice not in ("retain", "default"):
    raise ValueError(f"BERTLAB_HOST_MALLOC={os.environ['BERTLAB_HOST_MALLOC']!r}: use 'retain' "
                     "(keep freed host memory, the default) or 'default' (glibc's own behaviour)")
  if choice == "default":
    return False
  try:
    libc = ctypes.CDLL(None)
    libc.gnu_get_libc_version  # glibc, not musl or macOS
    mallopt = libc.mallopt
  except (OSError, AttributeError):
    return False
  if _backend_started():
    return False  # too late to help: JAX's threads already have their arenas
  return all(mallopt(param, value) == 1 for param, value in _SETTINGS)
