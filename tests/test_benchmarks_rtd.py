"""benchmarks/rtd_diagnostics.py: the within-token AUC on hand cases, and the script on a tiny
ELECTRA run that train.py writes."""

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
_spec = importlib.util.spec_from_file_location(
    "rtd_diagnostics", os.path.join(ROOT, "benchmarks", "rtd_diagnostics.py"))
rtd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rtd)


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
       "--config.eval_every_steps=10"],
      capture_output=True, text=True, timeout=600, env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert out.returncode == 0, out.stderr[-3000:]


def test_the_script_reads_a_tiny_electra_run(tmp_path):
  run, tok, bert = str(tmp_path / "run"), str(tmp_path / "tok"), str(tmp_path / "bert_run")
  _train("electra", run, tok)
  _train("bert", bert, tok)  # the same tokenizer files: a reader for the ELECTRA run
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
  other = tmp_path / "other_tok_run"  # the BERT run, pointed at another vocabulary
  shutil.copytree(bert, other)
  train_tokenizer("wordpiece", ["a few other words, not the corpus"] * 20,
                  vocab_size=120).save(str(tmp_path / "tok2"))
  cfg = json.loads((other / "config.json").read_text())
  cfg["data"]["tokenizer_dir"] = str(tmp_path / "tok2")
  (other / "config.json").write_text(json.dumps(cfg))
  with pytest.raises(ValueError, match="tokenizer is not the ELECTRA run's"):
    rtd.diagnose(run, reader=str(other))

  # Not a workdir, or not an ELECTRA run: one clear error each, nothing computed.
  with pytest.raises(FileNotFoundError, match="pretraining workdir"):
    rtd.diagnose(str(tmp_path / "nowhere"))
  (tmp_path / "bert").mkdir()
  cfg = json.loads((tmp_path / "run" / "config.json").read_text())
  cfg["family"] = "bert"
  (tmp_path / "bert" / "config.json").write_text(json.dumps(cfg))
  with pytest.raises(ValueError, match="bert run"):
    rtd.diagnose(str(tmp_path / "bert"))
