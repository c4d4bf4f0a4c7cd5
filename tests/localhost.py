"""Launching a script as several jax.distributed processes on this host (CPU devices, gloo).

Imported by tests that run train.py on "several hosts": `start` returns the processes of one
run, `finish` waits for them and fails with the stderr of the first that failed."""

import os
import socket
import subprocess
import sys
import tempfile
import time


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def start(script: str, args: list[str], processes: int, devices: int,
          env: dict[str, str] | None = None) -> list[subprocess.Popen]:
  """`processes` copies of `python script args`, each with devices / processes CPU devices and
  the jax.distributed flags of train.py (none for one process). `env`: more variables (its
  XLA_FLAGS are added to the device count's)."""
  if devices % processes:
    raise ValueError(f"{devices} devices cannot be split over {processes} processes")
  extra = dict(env or {})
  flags = f"--xla_force_host_platform_device_count={devices // processes} "
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.update(extra, XLA_FLAGS=flags + extra.get("XLA_FLAGS", os.environ.get("XLA_FLAGS", "")))
  cmd = [sys.executable, script, *args]
  if processes > 1:
    port = free_port()
  procs = []
  for i in range(processes):
    hosts = [] if processes == 1 else [f"--coordinator_address=127.0.0.1:{port}",
                                       f"--num_processes={processes}", f"--process_id={i}"]
    # Output to files, not pipes: nobody reads while they run, and a full pipe would block.
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    p = subprocess.Popen(cmd + hosts, env=env, stdout=out, stderr=err, text=True)
    p.out_file, p.err_file = out, err
    procs.append(p)
  return procs


def _read(f) -> str:
  f.seek(0)
  text = f.read()
  f.close()
  return text


def finish(procs: list[subprocess.Popen], timeout: float = 600) -> list[str]:
  """The processes' stdout, once all ended with status 0. A failed process ends the others
  (they would wait for it at the next barrier) and raises AssertionError with its stderr."""
  deadline = time.monotonic() + timeout
  failed = None
  while any(p.poll() is None for p in procs) and failed is None:
    failed = next((p for p in procs if p.poll() not in (None, 0)), None)
    if time.monotonic() > deadline:
      failed = next(p for p in procs if p.poll() is None)
      break
    time.sleep(0.05)
  failed = failed or next((p for p in procs if p.returncode), None)
  for p in procs:
    if p.poll() is None:
      p.kill()
      p.wait()
  outs = [_read(p.out_file) for p in procs]
  errs = [_read(p.err_file) for p in procs]
  if failed is not None:
    i = procs.index(failed)
    raise AssertionError(f"process {i} of {len(procs)} exited {failed.returncode} (killed if "
                         f"negative: over {timeout}s):\n{errs[i][-3000:]}")
  return outs
