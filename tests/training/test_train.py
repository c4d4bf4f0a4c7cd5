"""End-to-end pretraining of every family on the built-in corpus, in-process and tiny."""

import json
import os

import numpy as np
import pytest

from bertlab import train


def _losses(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  return [r for r in rows if "loss" in r], [r for r in rows if "eval_loss" in r]


@pytest.mark.parametrize("family", ["bert", "albert", "roberta", "electra", "spanbert"])
def test_each_family_trains_with_falling_loss(family, tmp_path, small_config):
  c = small_config(family, str(tmp_path / "run"), str(tmp_path / "tok"), total_steps=40)
  lines = []
  train.run(c, str(tmp_path / "run"), echo=lines.append)
  logged, evals = _losses(tmp_path / "run")
  assert [r["step"] for r in logged][:3] == [5, 10, 15]
  # Per-batch losses are noisy at batch 8: compare the means of the first and last two logs.
  first = np.mean([r["loss"] for r in logged[:2]])
  last = np.mean([r["loss"] for r in logged[-2:]])
  assert last < first - 0.3, (family, first, last)
  assert all(np.isfinite(r["loss"]) and r["tokens_per_s"] > 0 for r in logged)
  assert evals and np.isfinite(evals[-1]["eval_loss"])
  key = {"bert": "nsp_accuracy", "albert": "sop_accuracy", "roberta": "mlm_accuracy",
         "electra": "rtd_accuracy", "spanbert": "sbo_loss"}[family]
  assert key in logged[-1]
  if family == "electra":  # the AUC is an evaluation metric (a sort over the batch)
    assert 0 <= evals[-1]["eval_rtd_auc"] <= 1 and "rtd_auc" not in logged[-1]
  assert "parameters" in lines[0] and "GFLOPs/step" in lines[0] and "compiled in" in lines[0]
  assert os.path.isdir(tmp_path / "run" / "checkpoints" / "40")
  assert os.path.isdir(tmp_path / "run" / "tensorboard")


def test_same_config_and_seed_give_same_losses(tmp_path, small_config):
  runs = []
  for name in ("a", "b"):
    c = small_config("roberta", "", str(tmp_path / "tok"), total_steps=10)
    train.run(c, str(tmp_path / name), echo=lambda *_: None)
    runs.append([r["loss"] for r in _losses(tmp_path / name)[0]])
  assert runs[0] == runs[1]


def test_packed_run_trains_and_resumes_exactly(tmp_path, small_config):
  """Packed rows (data.packing) train, and a run stopped at step 10 and restarted logs the
  same losses as an uninterrupted one (the packer's state is in the checkpoint)."""
  tok = str(tmp_path / "tok")
  kw = {"data.packing": True, "data.pack_bins": 8, "optimizer.end_lr_ratio": 1.0}  # LR flat
  train.run(small_config("bert", "", tok, total_steps=20, **kw), str(tmp_path / "a"),
            echo=lambda *_: None)
  train.run(small_config("bert", "", tok, total_steps=10, **kw), str(tmp_path / "b"),
            echo=lambda *_: None)
  lines = []
  train.run(small_config("bert", "", tok, total_steps=20, **kw), str(tmp_path / "b"),
            echo=lines.append)
  assert lines[1].startswith("resumed from step 10")
  a, b = _losses(tmp_path / "a")[0], _losses(tmp_path / "b")[0]
  assert [r["step"] for r in b] == [5, 10, 15, 20]
  assert [r["loss"] for r in a] == [r["loss"] for r in b]
  assert all(r["nonpad_tokens"] > 0 for r in a)


def test_resuming_with_packing_switched_starts_a_new_stream(tmp_path, small_config):
  """Packing on after a run without it: another data stream, said so; the weights go on."""
  tok, run = str(tmp_path / "tok"), str(tmp_path / "run")
  train.run(small_config("bert", "", tok, total_steps=5), run, echo=lambda *_: None)
  lines = []
  train.run(small_config("bert", "", tok, total_steps=10, **{"data.packing": True}), run,
            echo=lines.append)
  assert any("new data stream from step 5 (packing changed)" in s for s in lines), lines
  assert os.path.isdir(os.path.join(run, "checkpoints", "10"))
  with open(os.path.join(run, "config.json")) as f:
    assert '"packing": true' in f.read()  # written once the restore succeeded


def test_resuming_with_another_model_is_a_config_mismatch(tmp_path, small_config):
  from bertlab.training.checkpoint import ConfigMismatchError

  tok, run = str(tmp_path / "tok"), str(tmp_path / "run")
  train.run(small_config("bert", "", tok, total_steps=5), run, echo=lambda *_: None)
  with pytest.raises(ConfigMismatchError, match="model.hidden_size: 64 in the checkpoint's"):
    train.run(small_config("bert", "", tok, total_steps=10, **{"model.hidden_size": 32}), run,
              echo=lambda *_: None)
  with open(os.path.join(run, "config.json")) as f:
    assert '"hidden_size": 64' in f.read()  # the failed resume did not overwrite it
  assert os.path.isdir(os.path.join(run, "checkpoints", "5"))  # nothing lost
