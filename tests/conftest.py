"""Settings every test and every process it starts inherit (through the environment).

- JAX computes on this host's CPU: with the `tpu` extra installed (for the ahead-of-time compile
  tests), JAX would otherwise probe for TPU chips first at each start (seconds, and a page of
  warnings) and hold libtpu's lock file. Two test workers may both load libtpu to compile for a
  TPU topology (no chip is touched), so its one-process lock is lifted.
- One persistent compilation cache for the session: the tests start many `train.py` processes
  that compile the same tiny programs, and on two cores the compiles, not the steps, were most
  of the suite's time. A cache hit loads the executable XLA built for the same HLO, so results
  are those of a fresh compile (the key hashes the program and the JAX version).
- XLA's CPU backend without its expensive LLVM optimisations (FAST_COMPILE): a tiny program
  then compiles in about 60 % of the CPU time (measured on tests/encoder + tests/tasks/
  test_finetune: 189.6 against 318.9 CPU-s) and runs as correctly, only slower, which the tiny
  shapes here do not notice. Tests that start processes add their device count to these flags,
  so every run a test compares is compiled the same way.
The cache is removed when the run ends (unless JAX_COMPILATION_CACHE_DIR was set by the caller).
"""

import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
_OWN_CACHE = "JAX_COMPILATION_CACHE_DIR" not in os.environ  # False in xdist workers
_run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # one id for all workers of one run
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(  # JAX makes it when it writes
    tempfile.gettempdir(), f"bertlab-jax-cache-{_run or os.getpid()}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
if FAST_COMPILE not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE}".strip()



def pytest_sessionfinish(session, exitstatus):
  """The process that named the compilation cache (the xdist controller, or the only process)
  removes it: every run starts its own, and /tmp does not fill up with them."""
  if _OWN_CACHE:
    shutil.rmtree(os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
