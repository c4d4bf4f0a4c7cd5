"""The toy study end to end, and an interrupted one finishing with the same scores.

Two arms (bert, electra) and random init at H 32, L 1; one SST-2-like task written by
conftest.py; the compiled steps are shared through one compilation cache, so the second study
compiles next to nothing.
"""

import json
import os
import shutil

import pytest

from bertlab.study import main
from bertlab.training import checkpoint
from study_toy import toy_study

# Two pretraining runs and five fine-tuning cells, twice: ~580 s + ~150 s on the shared
# 2-core machine at load 15-19 (six agents); the second study compiles from the cache.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("jax_cache"))


def _study(tmp_path_factory, sst2_config, cache_dir, name):
  data = tmp_path_factory.getbasetemp() / "study_data"
  data.mkdir(exist_ok=True)
  c = toy_study(data, sst2_config)
  c.compilation_cache_dir = cache_dir
  return c, str(tmp_path_factory.mktemp(name))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, sst2_config, cache_dir):
  c, workdir = _study(tmp_path_factory, sst2_config, cache_dir, "whole")
  lines = []
  report = main.run(c, workdir, echo=lines.append)
  return c, workdir, report, lines


def _scores(report):
  return {r["cell"]: r["score"] for r in report["cells"]}


def _pretrain_end(report):
  """Each run's steps and last logged losses and accuracies (not its timings)."""
  timing = ("steps_per_s", "tokens_per_s", "nonpad_tokens_per_s", "mfu")
  return {k: (r["steps"], {m: v for m, v in r["last_train"].items() if m not in timing})
          for k, r in report["pretrain"].items()}


def test_toy_study_end_to_end(uninterrupted):
  c, workdir, report, lines = uninterrupted
  # 2 arms x 2 budget fractions x 1 task x 1 seed, plus the random arm's cell.
  assert report["cells_done"] == report["cells_total"] == 5
  assert set(report["summary"]) == {"bert", "electra", "random"}
  arms = report["arms"]
  # Compute matching: each arm's steps cost at most the budget, and one more step would not.
  for name in ("bert", "electra"):
    a = arms[name]
    assert a["flops"] <= c.pretrain.budget_flops
    assert (a["steps"] + 2) * a["flops_per_step"] > c.pretrain.budget_flops  # 2: fraction unit
    assert a["checkpoints"] == [a["steps"] // 2, a["steps"]]
  assert arms["random"]["steps"] == 0
  for r in report["cells"]:
    assert 0.0 <= r["score"] <= 100.0
    assert r["config"]["seeds"] == [r["seed_used"]]
    assert r["pretrain_flops"] == r["pretrain_step"] * arms[r["arm"]]["flops_per_step"]
  bert = report["summary"]["bert"][-1]
  assert "vs_random" in bert and "vs_baseline" not in bert
  # Per task too: the papers' directions are per task (SOP on sentence order, spans on spans).
  electra = report["summary"]["electra"][-1]
  for key in ("tasks_vs_random", "tasks_vs_baseline"):
    assert set(electra[key]) == {"sst2"} and electra[key]["sst2"]["n"] == 1
  assert electra["rates"] == {"sst2": [c.finetune.learning_rate]}
  assert "vs_baseline" in report["summary"]["electra"][-1]
  for name in ("study.json", "study.md", "study.png"):
    assert os.path.getsize(os.path.join(workdir, name)) > 0
  assert json.load(open(os.path.join(workdir, "study.json")))["cells_done"] == 5
  md = open(os.path.join(workdir, "study.md")).read()
  assert "| electra |" in md and "Δ vs bert" in md
  assert "| electra | random |" in md and "| electra | bert |" in md
  progress = [l for l in lines if l.startswith("[")]
  assert len(progress) == 5 and "ETA" in progress[-1]


def test_rerun_skips_finished_cells(uninterrupted):
  c, workdir, report, _ = uninterrupted
  lines = []
  again = main.run(c, workdir, echo=lines.append)
  assert any("5 done already, 0 to run" in l for l in lines)
  assert _scores(again) == _scores(report)


class _Killed(Exception):
  pass


def test_killed_study_resumes_to_the_same_scores(tmp_path_factory, sst2_config, cache_dir,
                                                 uninterrupted, monkeypatch):
  c, workdir = _study(tmp_path_factory, sst2_config, cache_dir, "killed")
  # The same tokenizer files as the uninterrupted study: what is compared is the resume, not
  # the tokenizer training (before data/tokenizer_training's determinism fix, two trainings
  # here differed from line 29 of vocab.txt on).
  shutil.copytree(os.path.join(uninterrupted[1], "tokenizer"), os.path.join(workdir, "tokenizer"))
  lines = []
  main.run(c, workdir, max_cells=1, echo=lines.append)  # bert pretrained, one cell
  assert any("stopping after 1 cells" in l for l in lines)

  # Kill electra's pretraining right after its first checkpoint (the middle of the run).
  save = checkpoint.Checkpointer.save

  def save_then_die(self, step, *args, **kw):
    save(self, step, *args, **kw)
    if "electra" in self.directory:
      raise _Killed(f"killed after step {step}")

  monkeypatch.setattr(checkpoint.Checkpointer, "save", save_then_die)
  with pytest.raises(_Killed):
    main.run(c, workdir, echo=lines.append)
  monkeypatch.undo()
  electra = os.path.join(workdir, "pretrain", "electra-p0")
  assert not os.path.exists(os.path.join(electra, "pretrain.json"))
  first = str(uninterrupted[2]["arms"]["electra"]["checkpoints"][0])
  assert sorted(os.listdir(os.path.join(electra, "checkpoints"))) == [first]

  lines = []
  report = main.run(c, workdir, echo=lines.append)
  assert any(f"resumed from step {first}" in open(os.path.join(workdir, "logs", f)).read()
             for f in os.listdir(os.path.join(workdir, "logs")) if f.startswith("electra"))
  assert report["cells_done"] == 5
  assert _scores(report) == _scores(uninterrupted[2])
  end = _pretrain_end(report)
  assert end == _pretrain_end(uninterrupted[2])
  assert "loss" in end["electra-p0"][1] and "loss" in end["bert-p0"][1]


def test_report_only_gathers(uninterrupted, tmp_path):
  c, workdir, report, _ = uninterrupted
  os.remove(os.path.join(workdir, "study.md"))
  again = main.run(c, workdir, report_only=True, echo=lambda m: None)
  assert os.path.exists(os.path.join(workdir, "study.md"))
  assert _scores(again) == _scores(report)
