"""Per-group fine-tuning rate selection (study.finetune.learning_rates) on part of the training
examples: the reported split is never read to choose."""

import json
import os
import socket
import subprocess
import sys
import threading
import types

import ml_collections
import pytest

from bertlab import finetune

from bertlab.study import main, plan, runner
from study_toy import toy_study


def _lines(path):
  with open(path) as f:
    return sum(1 for _ in f)


def test_a_group_selects_its_rate_once_on_training_examples(tmp_path, sst2_config):
  study = toy_study(tmp_path, sst2_config)
  study.finetune.learning_rates = (1e-5, 5e-3)
  study.finetune.select_fraction = 0.25
  study.finetune.seeds = (0, 1)
  workdir = str(tmp_path / "w")
  os.makedirs(workdir)
  runner.prepare(study, workdir, echo=lambda m: None)
  plans = plan.arm_plans(study, workdir)
  first, second = [c for c in plan.cells(study, plans) if c.arm == "random"][:2]  # no pretraining
  assert (first.task, first.fraction) == (second.task, second.fraction)
  assert first.finetune_seed != second.finetune_seed
  result = runner.run_cell(study, plans, first, workdir, log=lambda m: None)
  assert set(result["selection"]) == {"1e-05", "0.005"}
  best = max(result["selection"].items(), key=lambda kv: (kv[1], -float(kv[0])))[0]
  assert result["learning_rate"] == float(best)
  out, group = runner.cell_dir(workdir, first), runner.selection_dir(workdir, first)
  # 64 toy sentences: 16 held out for the reported score (holdout_fraction 0.25); the rate is
  # chosen on 12 of the other 48 (select_fraction 0.25), trained on 36.
  assert _lines(os.path.join(out, "finetune", "predictions.jsonl")) == 16
  for lr in ("1e-05", "0.005"):
    assert _lines(os.path.join(group, f"lr{lr}", "predictions.jsonl")) == 12
  with open(os.path.join(out, "result.json")) as f:
    assert json.load(f)["selection"] == result["selection"]
  with open(os.path.join(group, "selection.json")) as f:
    assert json.load(f) == dict(seed=first.finetune_seed, rates=["1e-05", "0.005"],
                                select_fraction=0.25, scores=result["selection"])
  assert not os.path.exists(group + ".lock")
  # The group's next seed reuses the choice: no selection run again.
  stamps = {lr: os.stat(os.path.join(group, f"lr{lr}", "predictions.jsonl")).st_mtime_ns
            for lr in ("1e-05", "0.005")}
  again = runner.run_cell(study, plans, second, workdir, log=lambda m: None)
  assert again["selection"] == result["selection"]
  assert again["learning_rate"] == result["learning_rate"]
  assert again["seed_used"] != result["seed_used"]
  assert stamps == {lr: os.stat(os.path.join(group, f"lr{lr}", "predictions.jsonl")).st_mtime_ns
                    for lr in ("1e-05", "0.005")}
  # Other rates in the config: the stored choice is stale and is made again.
  study.finetune.learning_rates = (5e-3,)
  third = runner.run_cell(study, plans, second, workdir, log=lambda m: None)
  assert set(third["selection"]) == {"0.005"} and third["learning_rate"] == 5e-3
  assert stamps["0.005"] != os.stat(os.path.join(group, "lr0.005", "predictions.jsonl")).st_mtime_ns


def test_bad_selection_settings_fail_before_training(tmp_path, sst2_config):
  study = toy_study(tmp_path, sst2_config)
  study.finetune.learning_rates = (1e-4, -1.0)
  with pytest.raises(ValueError, match="learning_rates"):
    main.run(study, str(tmp_path / "w"), echo=lambda m: None)
  assert not os.path.exists(tmp_path / "w")


def test_a_slice_waits_for_the_one_choosing_and_takes_its_choice(tmp_path, monkeypatch):
  """Two slices meeting one group: the second waits on the group's lock (held by a live
  process) and then reads the choice; it never fine-tunes the rates itself."""
  def must_not_run(*a, **k):
    raise AssertionError("the waiting slice fine-tuned a rate itself")

  monkeypatch.setattr(finetune, "run", must_not_run)
  monkeypatch.setattr(runner, "LOCK_POLL_S", 0.05)
  study = types.SimpleNamespace(finetune=types.SimpleNamespace(learning_rates=(1e-4, 1e-3),
                                                               select_fraction=0.2))
  group = str(tmp_path / "select")
  os.makedirs(group)
  holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
  try:
    with open(group + ".lock", "w") as f:
      f.write(f"{socket.gethostname()}:{holder.pid}")

    def the_other_slice_finishes():
      runner.write_json(os.path.join(group, "selection.json"), dict(
          seed=0, rates=["0.0001", "0.001"], select_fraction=0.2,
          scores={"0.0001": 0.5, "0.001": 0.7}))
      os.remove(group + ".lock")

    timer = threading.Timer(0.3, the_other_slice_finishes)
    timer.start()
    config = ml_collections.ConfigDict(dict(optimizer=dict(learning_rate=0.0)))
    logged = []
    scores = runner._select_rate(study, config, group, 0, "accuracy", logged.append)
    timer.join()
  finally:
    holder.kill()
  assert scores == {"0.0001": 0.5, "0.001": 0.7}
  assert config.optimizer.learning_rate == 1e-3
  assert any("waiting for" in m for m in logged)
