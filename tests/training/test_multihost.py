"""train.py on several hosts (localhost processes x CPU devices, gloo): results independent of
the process count, and a SIGTERM to one host stops them all at one saved step."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = os.path.join(ROOT, "tests", "training", "small_cfg.py")
DEVICES = 4  # in all, over the processes


def _rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _start(n, workdir, tok, *extra):
  """n processes of DEVICES / n CPU devices each, training in `workdir` (dropout on).

  One token cache for all runs, built by the first (one-process) run: hosts building one
  cache at the same moment is the data preparation's business, not this test's."""
  cmd = [sys.executable, os.path.join(ROOT, "train.py"), f"--config={CFG}:bert",
         f"--config.data.tokenizer_dir={tok}", f"--workdir={workdir}",
         f"--config.data.cache_dir={os.path.join(os.path.dirname(tok), 'cache')}",
         "--config.log_every_steps=1", *extra]
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={DEVICES // n} "
             + os.environ.get("XLA_FLAGS", ""))
  if n == 1:
    return [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)]
  port = _free_port()
  return [subprocess.Popen(cmd + [f"--coordinator_address=127.0.0.1:{port}",
                                  f"--num_processes={n}", f"--process_id={i}"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
          for i in range(n)]


def _finish(procs, timeout=600):
  outs = [p.communicate(timeout=timeout) for p in procs]
  for p, (_, err) in zip(procs, outs, strict=True):
    assert p.returncode == 0, err[-3000:]
  return [o for o, _ in outs]


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
  root = tmp_path_factory.mktemp("multihost")
  return root, str(root / "tok")


def test_one_two_and_four_processes_give_equal_losses_and_eval(tok):
  """Dropout on: the global batch holds the same rows for any host count, and dropout's bits
  are a function of the global position, so losses agree (up to the order of the cross-host
  sums); held-out masks are drawn per example, so eval metrics agree too."""
  root, tokdir = tok
  steps = ["--config.total_steps=6", "--config.checkpoint_every_steps=3",
           "--config.eval_every_steps=6"]
  runs = {}
  for n in (1, 2, 4):  # one at a time: the one-process run trains the shared tokenizer
    outs = _finish(_start(n, root / f"p{n}", tokdir, *steps))
    assert f"{n} process(es)" in outs[0]
    runs[n] = _rows(root / f"p{n}")
  loss = {n: [r["loss"] for r in rows if "loss" in r] for n, rows in runs.items()}
  ev = {n: [r["eval_loss"] for r in rows if "eval_loss" in r] for n, rows in runs.items()}
  assert len(loss[1]) == 6 and len(ev[1]) == 1
  for n in (2, 4):
    np.testing.assert_allclose(loss[n], loss[1], rtol=1e-5)
    np.testing.assert_allclose(ev[n], ev[1], rtol=1e-5)
  assert os.path.isdir(root / "p4" / "checkpoints" / "6")


def test_sigterm_to_one_of_two_processes_saves_one_step_and_resumes_exactly(tok):
  root, tokdir = tok
  steps = ["--config.total_steps=80", "--config.checkpoint_every_steps=10",
           "--config.eval_every_steps=1000"]
  if not os.path.isdir(tokdir):  # run alone: the first process trains the tokenizer
    _finish(_start(1, root / "warm", tokdir, "--config.total_steps=1"))
  ref = root / "ref"
  _finish(_start(2, ref, tokdir, *steps))
  run = root / "term"
  procs = _start(2, run, tokdir, *steps)
  t = time.time()
  while not os.path.isdir(run / "checkpoints" / "10") and time.time() - t < 300:
    assert all(p.poll() is None for p in procs), "a process ended before step 10"
    time.sleep(0.02)
  procs[1].send_signal(signal.SIGTERM)  # one host only: the other learns it from the first
  signalled = time.time()
  outs = _finish(procs, timeout=120)
  assert time.time() - signalled < 60
  saved = [int(re.search(r"SIGTERM: saved step (\d+)", o).group(1)) for o in outs]
  assert saved[0] == saved[1] < 80, outs
  assert os.path.isdir(run / "checkpoints" / str(saved[0]))
  out = _finish(_start(2, run, tokdir, *steps))
  assert f"resumed from step {saved[0]}" in out[0]
  rows, ref_rows = _rows(run), _rows(ref)
  assert [r["step"] for r in rows if "loss" in r] == list(range(1, 81))  # one row per step
  assert [r["loss"] for r in rows if "loss" in r] == [r["loss"] for r in ref_rows if "loss" in r]
