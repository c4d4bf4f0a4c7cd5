"""benchmarks/rtd_diagnostics.py, pair_task_diagnostics.py and mlm_by_length.py: their measures on
hand cases, and the scripts on tiny ELECTRA, BERT and ALBERT runs that train.py writes (one
tokenizer)."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from bertlab.data.tokenizer_training import train_tokenizer
from bertlab.objectives import losses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _script(name):
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(ROOT, "benchmarks", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


rtd, pairs = _script("rtd_diagnostics"), _script("pair_task_diagnostics")
by_length = _script("mlm_by_length")


def test_a_judge_of_token_identity_scores_one_half_within_tokens():
  # Token 7 is always replaced-looking (score 5), token 3 never (score -5): the plain AUC is 1
  # only because the replaced tokens are mostly 7s; within each token it is a coin.
  tokens = np.array([7, 7, 7, 7, 3, 3, 3, 3])
  replaced = np.array([1, 1, 1, 0, 1, 0, 0, 0])
  by_identity = np.where(tokens == 7, 5.0, -5.0)
  assert rtd.within_group_auc(by_identity, tokens, replaced) == 0.5
  # All in one group, 4 x 4 pairs: each replaced 7 ties the original 7 (1/2) and beats the three
  # original 3s; the replaced 3 ties those three: (3 x 3.5 + 1.5) / 16.
  assert rtd.within_group_auc(by_identity, np.zeros(8), replaced) == 12 / 16
  # Scores that separate replaced from original inside each token: 1.
  by_context = by_identity + np.where(replaced == 1, 1.0, -1.0)
  assert rtd.within_group_auc(by_context, tokens, replaced) == 1.0
  # Token 3: one replaced (2.0) against originals 2.0 (tie) and 0.0 -> (0.5 + 1) / 2; token 7
  # has no original, so it adds no pair.
  s = np.array([1.0, 1.0, 2.0, 2.0, 0.0])
  assert rtd.within_group_auc(s, np.array([7, 7, 3, 3, 3]), np.array([1, 1, 1, 0, 0])) == 0.75
  assert rtd.within_group_auc(s, np.array([7, 7, 3, 3, 3]), np.ones(5)) == 0.5  # no pair


def test_one_group_is_the_evaluation_auc():
  rng = np.random.default_rng(0)
  s = rng.integers(0, 5, 300).astype(np.float32)  # many ties
  y = rng.random(300) < 0.2
  want = losses.rank_auc(jnp.asarray(s), jnp.asarray(y, jnp.float32),
                         jnp.asarray(~y, jnp.float32))
  assert rtd.within_group_auc(s, np.zeros(300), y) == pytest.approx(float(want), abs=1e-6)


def _train(family, run, tok):
  out = subprocess.run(
      [sys.executable, os.path.join(ROOT, "train.py"), "--config",
       os.path.join(ROOT, "tests", "training", f"small_cfg.py:{family}"), "--workdir", run,
       f"--config.data.tokenizer_dir={tok}", "--config.total_steps=10",
       "--config.eval_every_steps=10", "--config.data.tokenizer=wordpiece"],
      capture_output=True, text=True, timeout=600, env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert out.returncode == 0, out.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """Tiny electra, bert and albert runs (10 steps) on one WordPiece tokenizer, and a copy of the bert run
  pointed at another vocabulary."""
  root = tmp_path_factory.mktemp("diagnostics")
  tok = str(root / "tok")
  out = {f: str(root / f) for f in ("electra", "bert", "albert")}
  for family, run in out.items():
    _train(family, run, tok)
  other = root / "other_tok_run"
  shutil.copytree(out["bert"], other)
  train_tokenizer("wordpiece", ["a few other words, not the corpus"] * 20,
                  vocab_size=120).save(str(root / "tok2"))
  cfg = json.loads((other / "config.json").read_text())
  cfg["data"]["tokenizer_dir"] = str(root / "tok2")
  (other / "config.json").write_text(json.dumps(cfg))
  out["other"] = str(other)
  return out


def test_the_script_reads_a_tiny_electra_run(runs, tmp_path):
  run, bert = runs["electra"], runs["bert"]
  path = tmp_path / "rtd.json"
  rtd.main(["--workdir", run, "--steps", "10", "--reader", bert, "--json", str(path)])
  (r,) = json.loads(path.read_text())
  assert r["step"] == 10 and r["tokens"] > 0
  assert 0 < r["replaced_fraction"] < 0.2  # 15 % masked, some samples equal the original
  assert 0 <= r["auc"] <= 1 and 0 <= r["within_token_auc"] <= 1
  shift = r["neighbour_shift"]
  assert shift["self"] > 0 and shift["1-3"] >= 0 and shift["4+"] >= 0
  assert all(isinstance(t, str) and n > 0 for t, n in r["caught"] + r["missed"])
  assert r["reader"] == bert and r["reader_step"] == 10
  assert 0 <= r["reader_auc"] <= 1 and 0 <= r["reader_within_token_auc"] <= 1
  # The reader's scores are its own, not the discriminator's.
  assert (r["reader_auc"], r["reader_within_token_auc"]) != (r["auc"], r["within_token_auc"])

  # A reader without an MLM head, or on another tokenizer: one clear error each.
  with pytest.raises(ValueError, match="no masked-LM head"):
    rtd.diagnose(run, reader=run)
  with pytest.raises(ValueError, match="tokenizer is not the ELECTRA run's"):
    rtd.diagnose(run, reader=runs["other"])

  # Not a workdir, or not an ELECTRA run: one clear error each, nothing computed.
  with pytest.raises(FileNotFoundError, match="pretraining workdir"):
    rtd.diagnose(str(tmp_path / "nowhere"))
  (tmp_path / "bert").mkdir()
  cfg = json.loads(open(os.path.join(run, "config.json")).read())
  cfg["family"] = "bert"
  (tmp_path / "bert" / "config.json").write_text(json.dumps(cfg))
  with pytest.raises(ValueError, match="bert run"):
    rtd.diagnose(str(tmp_path / "bert"))


def test_unmask_gives_back_the_original_tokens():
  # Row 0 masked at 1 and 3 (4 = [MASK]); row 1 at 2, with a padded prediction slot (weight 0)
  # that must not write its id 0 over position 0.
  batch = {"input_ids": np.array([[9, 4, 7, 4], [9, 8, 4, 6]]),
           "mlm_positions": np.array([[1, 3], [2, 0]]), "mlm_ids": np.array([[5, 6], [3, 0]]),
           "mlm_weights": np.array([[1.0, 1.0], [1.0, 0.0]]), "nsp_label": np.array([0, 1])}
  out = pairs.unmask(batch)
  np.testing.assert_array_equal(out["input_ids"], [[9, 5, 7, 6], [9, 8, 3, 6]])
  np.testing.assert_array_equal(batch["input_ids"], [[9, 4, 7, 4], [9, 8, 4, 6]])  # a copy
  assert out["nsp_label"] is batch["nsp_label"]


def test_pair_figures_by_hand():
  # p(label 1) 0.9, 0.6 on the label-1 pairs, 0.7, 0.2 on the label-0 ones: 3 of 4 right at 0.5;
  # of the 4 (label 1, label 0) pairs only 0.6 < 0.7 is ranked wrong: AUC 3/4.
  f = pairs.figures(np.array([0.9, 0.6, 0.7, 0.2]), np.array([1, 1, 0, 0]))
  assert f == {"accuracy": 0.75, "auc": 0.75, "examples": 4, "label1_fraction": 0.5}


def _eval_accuracy(run, task, step):
  with open(os.path.join(run, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  return next(r[f"eval_{task}_accuracy"] for r in rows
              if r["step"] == step and f"eval_{task}_accuracy" in r)


def test_each_pair_head_reads_both_tasks(runs, tmp_path):
  bert, albert = runs["bert"], runs["albert"]
  path = tmp_path / "pairs.json"
  pairs.main(["--workdir", bert, "--workdir", albert, "--steps", "10", "--json", str(path)])
  rows = json.loads(path.read_text())
  assert [(r["head"], r["step"]) for r in rows] == [("nsp", 10), ("sop", 10)]
  for r in rows:
    for key in ("nsp_masked", "nsp_clean", "sop_masked", "sop_clean"):
      f = r[key]
      assert f["source"] == (bert if key.startswith("nsp") else albert)
      assert f["examples"] > 0 and 0 < f["label1_fraction"] < 1
      assert 0 <= f["accuracy"] <= 1 and 0 <= f["auc"] <= 1
  # A head on its own task's masked batches is the run's own evaluation.
  by_head = {r["head"]: r for r in rows}
  for task, run in (("nsp", bert), ("sop", albert)):
    assert by_head[task][f"{task}_masked"]["accuracy"] == pytest.approx(
        _eval_accuracy(run, task, 10), abs=1e-6)
  # The clean view is other inputs: some head scores differently on it.
  assert any(r[f"{t}_clean"] != r[f"{t}_masked"] for r in rows for t in ("nsp", "sop"))

  # One head on both tasks, the other task's pairs from a run's config alone (no checkpoint):
  # the same figures as with both heads read.
  config_only = tmp_path / "bert_config_only"
  config_only.mkdir()
  shutil.copy(os.path.join(bert, "config.json"), config_only / "config.json")
  (row,) = pairs.diagnose([albert], [10], (str(config_only),))
  assert row["head"] == "sop" and row["nsp_clean"]["source"] == str(config_only)
  for key in ("nsp_masked", "nsp_clean", "sop_masked", "sop_clean"):
    assert {k: v for k, v in row[key].items() if k != "source"} == {
        k: v for k, v in by_head["sop"][key].items() if k != "source"}
  with pytest.raises(ValueError, match="at least one --workdir"):
    pairs.diagnose([], [None], (bert,))

  # Bad input, each a clear error before any data is built: a run without a pair head, two
  # runs of one head, runs on different tokenizers, not a workdir.
  with pytest.raises(ValueError, match="no sentence-pair head"):
    pairs.diagnose([runs["electra"]], [None])
  with pytest.raises(ValueError, match="2 NSP runs"):
    pairs.diagnose([bert, runs["other"]], [None])
  with pytest.raises(ValueError, match="tokenizers differ"):
    pairs.diagnose([runs["other"], albert], [None])
  with pytest.raises(FileNotFoundError, match="pretraining workdir"):
    pairs.diagnose([str(tmp_path / "nowhere")], [None])


def test_length_windows_mask_only_the_text():
  class Tok:
    cls_id, sep_id, mask_id = 1, 2, 3
  texts = [np.arange(10, 40), np.arange(50, 80)]
  ids, pos, want = by_length.windows(texts, 12, Tok, np.random.default_rng(0))
  assert ids.shape == (2, 12) and pos.shape == want.shape == (2, 2)  # round(0.15 x 10) = 2
  assert (ids[:, 0] == 1).all() and (ids[:, -1] == 2).all()
  assert ((pos >= 1) & (pos <= 10)).all()
  for r, t in enumerate(texts):
    np.testing.assert_array_equal(want[r], t[pos[r] - 1])  # the tokens the [MASK]s hide
    assert (ids[r, pos[r]] == 3).all()
    kept = np.setdiff1d(np.arange(1, 11), pos[r])
    np.testing.assert_array_equal(ids[r, kept], t[kept - 1])  # the rest untouched
  # Windows of 3 still hide one token.
  assert by_length.windows(texts, 3, Tok, np.random.default_rng(0))[1].shape == (2, 1)


def test_the_length_script_reads_a_tiny_bert_run(runs, tmp_path):
  path = tmp_path / "len.json"
  by_length.main(["--workdir", runs["bert"], "--steps", "10", "--lengths", "8,16",
                  "--json", str(path)])
  (r,) = json.loads(path.read_text())
  assert r["step"] == 10 and r["examples"] > 0
  assert set(r["accuracy"]) == {"8", "16"}
  assert all(0 <= a <= 1 for a in r["accuracy"].values())
  again = by_length.diagnose(runs["bert"], [10], [8, 16])[0]
  assert again["accuracy"] == r["accuracy"]  # fixed masks: the same figures
  with pytest.raises(ValueError, match="no masked-LM head"):
    by_length.diagnose(runs["electra"], [None], [8])
  with pytest.raises(ValueError, match="each must lie in 3..32"):
    by_length.diagnose(runs["bert"], [None], [8, 64])
  # Another run's text: the albert model read on the bert run's examples, the same masks, so
  # the figures differ only by the model; a run on another tokenizer is refused.
  albert = by_length.diagnose(runs["albert"], [10], [8, 16], texts_from=runs["bert"])[0]
  assert albert["texts"] == runs["bert"] and albert["examples"] == r["examples"]
  assert albert["accuracy"] != r["accuracy"]
  with pytest.raises(ValueError, match="tokenizer is not"):
    by_length.diagnose(runs["bert"], [10], [8], texts_from=runs["other"])
