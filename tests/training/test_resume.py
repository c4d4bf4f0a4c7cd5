"""Exact resume after SIGKILL, clean exit on SIGTERM, fallback from a corrupt checkpoint."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import orbax.checkpoint as ocp
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = os.path.join(ROOT, "tests", "training", "small_cfg.py")


def _cmd(workdir, tok, steps=30, *extra):
  return [sys.executable, os.path.join(ROOT, "train.py"), f"--config={CFG}:bert",
          f"--workdir={workdir}", f"--config.data.tokenizer_dir={tok}",
          f"--config.total_steps={steps}", "--config.checkpoint_every_steps=10", *extra]


def _env():
  return dict(os.environ, JAX_PLATFORMS="cpu")


def _params(workdir, step):
  state = ocp.StandardCheckpointer().restore(os.path.join(workdir, "checkpoints", str(step),
                                                          "state"))
  return state


def _flat(tree):
  import jax
  return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def _start_and_signal(cmd, workdir, sig, after_step=10, timeout=300):
  proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
  target = os.path.join(workdir, "checkpoints", str(after_step))
  t = time.time()
  while not os.path.isdir(target) and proc.poll() is None and time.time() - t < timeout:
    time.sleep(0.02)
  proc.send_signal(sig)
  out, _ = proc.communicate(timeout=timeout)
  return proc.returncode, out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """An uninterrupted 30-step run (it also trains the shared tokenizer)."""
  root = tmp_path_factory.mktemp("resume")
  tok, ref = str(root / "tok"), str(root / "ref")
  out = subprocess.run(_cmd(ref, tok), env=_env(), capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  return root, tok, ref


def test_sigkill_then_restart_is_bitwise_identical(reference):
  root, tok, ref = reference
  run = str(root / "killed")
  code, _ = _start_and_signal(_cmd(run, tok), run, signal.SIGKILL)
  assert code == -signal.SIGKILL
  steps = sorted(int(s) for s in os.listdir(os.path.join(run, "checkpoints")) if s.isdigit())
  assert steps and steps[-1] < 30, steps  # killed mid-way
  out = subprocess.run(_cmd(run, tok), env=_env(), capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  assert f"resumed from step {steps[-1]}" in out.stdout
  for a, b in zip(_flat(_params(ref, 30)), _flat(_params(run, 30))):
    np.testing.assert_array_equal(a, b)
  # The losses logged after the resume equal the uninterrupted run's.
  def losses(d):
    with open(os.path.join(d, "metrics.jsonl")) as f:
      return {r["step"]: r["loss"] for r in map(json.loads, f) if "loss" in r}
  ref_l, run_l = losses(ref), losses(run)
  assert all(run_l[s] == ref_l[s] for s in run_l if s > steps[-1])


def test_sigterm_saves_and_exits_then_resumes(reference):
  root, tok, ref = reference
  run = str(root / "term")
  code, out = _start_and_signal(_cmd(run, tok), run, signal.SIGTERM)
  assert code == 0, out[-3000:]
  if "SIGTERM: saved step" in out:  # (unless the run had already finished)
    saved = int(out.split("SIGTERM: saved step ")[1].split()[0])
    assert os.path.isdir(os.path.join(run, "checkpoints", str(saved)))
  out = subprocess.run(_cmd(run, tok), env=_env(), capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  for a, b in zip(_flat(_params(ref, 30)), _flat(_params(run, 30))):
    np.testing.assert_array_equal(a, b)


def test_corrupt_latest_checkpoint_falls_back_to_previous(reference):
  root, tok, ref = reference
  run = str(root / "corrupt")
  shutil.copytree(ref, run)
  shutil.rmtree(os.path.join(run, "checkpoints", "30"))
  # Damage step 20: truncate every file of its state.
  for dirpath, _, files in os.walk(os.path.join(run, "checkpoints", "20", "state")):
    for f in files:
      with open(os.path.join(dirpath, f), "r+b") as fh:
        fh.truncate(7)
  out = subprocess.run(_cmd(run, tok), env=_env(), capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  assert "checkpoint at step 20" in out.stderr and "cannot be restored" in out.stderr
  assert "resumed from step 10" in out.stdout
  for a, b in zip(_flat(_params(ref, 30)), _flat(_params(run, 30))):
    np.testing.assert_array_equal(a, b)
