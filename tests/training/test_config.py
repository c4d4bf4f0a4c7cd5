"""Bad configs fail before anything compiles, with the nearest valid key named."""

import os
import subprocess
import sys

import pytest

from bertlab.training import config as config_lib
from bertlab.training.tiny import tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("family", ["bert", "albert", "roberta", "electra", "spanbert"])
def test_paper_and_tiny_configs_validate(family):
  config_lib.validate(tiny_config(family))


def test_every_config_file_validates():
  import importlib.util
  for name in sorted(os.listdir(os.path.join(ROOT, "configs"))):
    if name.endswith(".py"):
      spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(ROOT, "configs", name))
      module = importlib.util.module_from_spec(spec)
      spec.loader.exec_module(module)
      config_lib.validate(module.get_config())


@pytest.mark.parametrize("mutate,msg", [
    (lambda c: c.optimizer.__setitem__("learning_rat", 1.0), "did you mean 'optimizer.learning_rate'"),
    (lambda c: c.model.__setitem__("num_heads", 5), "config.model: EncoderConfig.hidden_size"),
    (lambda c: c.objective.__setitem__("masking", "spans"), "objective.masking"),
    (lambda c: c.__setitem__("batch_size", 0), "batch_size"),
    (lambda c: c.data.__setitem__("max_seq_len", 4096), "exceeds the model's"),
    (lambda c: c.optimizer.__setitem__("name", "adam"), "optimizer.name"),
    (lambda c: c.__setitem__("mesh_shape", (1, 1)), "mesh_shape: expected 3 sizes"),
    (lambda c: c.__setitem__("mesh_shape", (4, 1, 1)), "needs 4 devices"),
    (lambda c: c.data.__setitem__("pack_bins", 0), "pack_bins"),
    (lambda c: c.data.__setitem__("pack_max_examples", -1), "pack_max_examples"),
    (lambda c: c.__setitem__("prefetch_batches", -1), "prefetch_batches"),
    (lambda c: c.data.__setitem__("roberta_packing", "docs"), "roberta_packing: expected"),
    (lambda c: c.data.__setitem__("roberta_packing", "doc"), "applies to RoBERTa only"),
])
def test_bad_values_are_named(mutate, msg):
  c = tiny_config("bert")
  with c.unlocked():
    mutate(c)
  with pytest.raises(ValueError, match=msg):
    config_lib.validate(c)


def test_cli_unknown_key_names_nearest_and_exits_cleanly(tmp_path):
  out = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"),
                        "--config", os.path.join(ROOT, "configs/tiny/bert.py"),
                        "--workdir", str(tmp_path), "--config.batch_sze=3"],
                       capture_output=True, text=True, timeout=300)
  assert out.returncode != 0
  assert "batch_size" in out.stderr and "Traceback" not in out.stderr
  assert not os.path.exists(tmp_path / "checkpoints")


def test_cli_without_workdir_prints_usage(tmp_path):
  out = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"),
                        "--config", os.path.join(ROOT, "configs/tiny/bert.py")],
                       capture_output=True, text=True, timeout=300)
  assert out.returncode != 0 and "usage" in out.stderr


def test_cli_missing_or_empty_corpus_is_one_clear_line(tmp_path):
  empty = tmp_path / "empty.txt"
  empty.write_text("")
  for corpus, msg in [(str(tmp_path / "missing.txt"), "matches no file"),
                      (str(empty), "empty corpus")]:
    out = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"),
                          "--config", os.path.join(ROOT, "configs/tiny/bert.py"),
                          "--workdir", str(tmp_path / "run"), f"--config.data.corpus={corpus}"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert msg in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]


def test_packing_spec_follows_the_config():
  from bertlab import pretrain_steps

  c = tiny_config("bert")
  assert pretrain_steps.packing_spec(c) is None  # off by default: the papers' batches are sequences
  with c.unlocked():
    c.data.packing = True
  spec = pretrain_steps.packing_spec(c)
  assert (spec.max_seq_len, spec.max_examples, spec.max_predictions, spec.bins) == (
      64, 4, c.objective.max_predictions + 2, 64)
  with c.unlocked():
    c.data.pack_max_examples = 6
  assert pretrain_steps.packing_spec(c).max_examples == 6


def test_layer_loop_is_left_to_the_backend_and_a_flag_can_set_it(tmp_path):
  """model.scan_layers is None (unrolled on CPU, scanned elsewhere) yet typed bool, so
  `--config.model.scan_layers=true` parses; a non-bool is refused."""
  from bertlab.training import cli

  c = tiny_config("bert")
  assert c.model.scan_layers is None
  assert config_lib.encoder_config(c.model, "model").scan_layers is None
  cfg_file = os.path.join(ROOT, "configs", "tiny", "bert.py")
  for value, want in (("true", True), ("False", False)):
    fl = cli.parse(["prog", f"--config={cfg_file}", f"--workdir={tmp_path}",
                    f"--config.model.scan_layers={value}"], config_help="", workdir_help="",
                   usage="")
    assert fl.config.model.scan_layers is want
    assert config_lib.encoder_config(fl.config.model, "model").scan_layers is want
  with pytest.raises(SystemExit, match="scan_layers"):
    cli.parse(["prog", f"--config={cfg_file}", f"--workdir={tmp_path}",
               "--config.model.scan_layers=sometimes"], config_help="", workdir_help="", usage="")
