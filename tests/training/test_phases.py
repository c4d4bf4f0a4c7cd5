"""BERT's two phases in one run: killed in either phase (checkpoints and metrics rows past the
kill left behind), the run resumes there and ends exactly as an uninterrupted one."""

import json
import os
import shutil

import numpy as np
import orbax.checkpoint as ocp
import pytest

from bertlab import train
from bertlab.training import config as config_lib

PHASES = {"phases.fraction": (0.5, 0.5), "phases.max_seq_len": (16, 32),
          "phases.max_predictions": (3, 6), "total_steps": 16, "checkpoint_every_steps": 4,
          "keep_checkpoints": 10, "log_every_steps": 1, "eval_every_steps": 8}


def _rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def _leaves(workdir, step):
  import jax
  state = ocp.StandardCheckpointer().restore(os.path.join(workdir, "checkpoints", str(step),
                                                          "state"))
  return [np.asarray(x) for x in jax.tree_util.tree_leaves(state)]


def _kill_after(src, dst, step):
  """What a kill right after saving `step` leaves: later checkpoints gone, metrics rows kept."""
  shutil.copytree(src, dst)
  for name in os.listdir(os.path.join(dst, "checkpoints")):
    if name.isdigit() and int(name) > step:
      shutil.rmtree(os.path.join(dst, "checkpoints", name))


def test_phase_ends_and_validation(small_config):
  c = small_config("bert", "", "", **PHASES)
  assert config_lib.phase_ends(c) == [8, 16]
  assert config_lib.phase_config(c, 1).data.max_seq_len == 32
  c.phases.fraction = (0.5, 0.4)
  with pytest.raises(ValueError, match="summing to 1"):
    config_lib.validate(c)


def test_two_phase_run_killed_in_each_phase_resumes_exactly(tmp_path, small_config):
  tok = str(tmp_path / "tok")
  ref = str(tmp_path / "ref")
  lines = []
  train.run(small_config("bert", "", tok, **PHASES), ref, echo=lines.append)
  assert any(s.startswith("phase 2/2") for s in lines)
  ref_rows = _rows(ref)
  # Each phase trains on its own length: the held-out metrics of the two phases differ.
  assert [r["step"] for r in ref_rows if "eval_loss" in r] == [8, 16]
  for killed_at in (4, 12):  # in phase 1, in phase 2
    run = str(tmp_path / f"killed{killed_at}")
    _kill_after(ref, run, killed_at)
    out = []
    train.run(small_config("bert", "", tok, **PHASES), run, echo=out.append)
    assert any(s.startswith(f"resumed from step {killed_at}") for s in out), out
    rows = _rows(run)
    steps = [r["step"] for r in rows if "loss" in r]
    assert steps == list(range(1, 17))  # one row per step, however the run was cut
    assert [r["loss"] for r in rows if "loss" in r] == [r["loss"] for r in ref_rows
                                                        if "loss" in r]
    for a, b in zip(_leaves(ref, 16), _leaves(run, 16), strict=True):
      np.testing.assert_array_equal(a, b)
