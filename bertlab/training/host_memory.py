"""Keep freed host memory in the process, so XLA:CPU's per-step buffers stop page-faulting.

XLA:CPU mallocs a train step's temporaries on every call (about 1.4 GB at BERT-base, batch 8,
seq 128). glibc serves blocks over 32 MB with fresh mmaps and unmaps them on free, and each
worker thread allocates from its own arena, whose heaps shrink on free; so every step faulted
its temporaries back in, page by page: 365,000 minor faults and 0.7 s of kernel time in a
4.1 s step on this project's 2-core machine. One malloc arena that neither maps nor trims
large blocks serves the steps from memory the process already holds: 3.65-3.7 s per step.

Left alone, that heap still grows in the first steps: a step's temporaries are one block, and
the previous step's block is sometimes freed only after the next one is allocated (measured:
one or two blocks in use between steps), so the heap needs room for two and finds it by growing,
in a step that faults its 1.55 GB in again (+1.5-2 s). `reserve_for_step` makes that room once,
right after compiling, so the first steps fault nothing (BERT-base: 0 faults in 10 and in 12
steps, where runs without it faulted 1.55 GB in 2-3 of their first 12). It is no guarantee: as
the heap's free space fragments it can still grow now and then, later. The price is that the
process keeps its peak host memory until it exits, which a training run reaches anyway.

`retain_freed_memory` must run before JAX starts its CPU client (a thread keeps the arena of its
first malloc): the drivers (train, finetune, distill, benchmarks) call it first. It applies to
CPU runs only (JAX_PLATFORMS names cpu first, or the host has no TPU or GPU device files): on an
accelerator host the step's temporaries live in device memory, and one arena with no trimming
would only slow the input pipeline's threads, unmeasured there. glibc only;
elsewhere, or with BERTLAB_HOST_MALLOC=default in the environment, it changes nothing; any other
value than 'retain' or 'default' is an error.
"""

from __future__ import annotations

import ctypes
import glob
import os

# mallopt parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
# A trim threshold of -1 never trims (glibc reads it as SIZE_MAX); 2**31 - 1 still gave the
# top of the heap back once it passed 2 GB, to be faulted in again.
_SETTINGS = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1))
_retained = False


def _backend_started() -> bool:
  try:
    from jax._src import xla_bridge
    return bool(xla_bridge._backends)
  except (ImportError, AttributeError):  # a JAX without that internal: assume not yet
    return False


def runs_on_cpu() -> bool:
  """Whether JAX will compute on this host's CPU, decided before JAX starts: JAX_PLATFORMS
  when set (its first entry), else whether no accelerator is attached (TPU VMs expose
  /dev/accel* or /dev/vfio/N, NVIDIA GPUs /dev/nvidiaN)."""
  platforms = os.environ.get("JAX_PLATFORMS", "").strip()
  if platforms:
    return platforms.split(",")[0].strip().lower() == "cpu"
  return not any(glob.glob(p) for p in ("/dev/accel[0-9]*", "/dev/vfio/[0-9]*",
                                         "/dev/nvidia[0-9]*"))


def retain_freed_memory() -> bool:
  """Set glibc's malloc to one arena, no mmap and no trimming. True if it was applied now."""
  choice = os.environ.get("BERTLAB_HOST_MALLOC", "retain").strip().lower() or "retain"
  if choice not in ("retain", "default"):
    raise ValueError(f"BERTLAB_HOST_MALLOC={os.environ['BERTLAB_HOST_MALLOC']!r}: use 'retain' "
                     "(keep freed host memory, the default) or 'default' (glibc's own behaviour)")
  if choice == "default" or not runs_on_cpu():
    return False
  try:
    libc = ctypes.CDLL(None)
    libc.gnu_get_libc_version  # glibc, not musl or macOS
    mallopt = libc.mallopt
  except (OSError, AttributeError):
    return False
  if _backend_started():
    return False  # too late to help: JAX's threads already have their arenas
  global _retained
  _retained = all(mallopt(param, value) == 1 for param, value in _SETTINGS)
  return _retained


# glibc's defaults for the same parameters (0 arenas = as many as it likes; 128 KiB trim).
_DEFAULTS = ((_M_ARENA_MAX, 0), (_M_MMAP_MAX, 65536), (_M_TRIM_THRESHOLD, 128 * 1024))


def keep_for_platform(platform: str) -> bool:
  """Undo `retain_freed_memory` unless the run computes on CPU: the tuning was measured for
  XLA:CPU's host temporaries; an accelerator's live in device memory, and on a host it cost
  (cache build 8-12 % slower, twice the peak memory). True if the retention stays."""
  global _retained
  if platform == "cpu" or not _retained:
    return _retained
  libc = ctypes.CDLL(None)
  for param, value in _DEFAULTS:
    libc.mallopt(param, value)
  _retained = False
  return False


def _available_bytes() -> int:
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def reserve(nbytes: int) -> int:
  """Grow the retained heap by `nbytes` now (touched, then freed and kept), so that later
  mallocs find memory already faulted in. At most half the memory available; returns the bytes
  reserved (0 when memory is not retained: glibc would hand a freed block straight back)."""
  nbytes = min(int(nbytes), _available_bytes() // 2)
  if not _retained or nbytes <= 0:
    return 0
  libc = ctypes.CDLL(None)
  libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
  libc.free.argtypes = [ctypes.c_void_p]
  block = libc.malloc(nbytes)
  if not block:
    return 0
  ctypes.memset(block, 0, nbytes)  # fault the pages in now, not in a step
  libc.free(block)
  return nbytes


def reserve_for_step(compiled) -> int:
  """Room for two of a compiled CPU step's temporary buffers (see the module docstring);
  returns the bytes reserved. Nothing on accelerators, whose temporaries are device memory."""
  import jax
  if jax.devices()[0].platform != "cpu":
    return 0
  try:
    temp = int(compiled.memory_analysis().temp_size_in_bytes)
  except Exception:  # not every backend reports it
    return 0
  return reserve(2 * temp)
