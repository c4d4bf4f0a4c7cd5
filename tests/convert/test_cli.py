"""`python -m bertlab.convert import / export`: summaries, our workdirs, and the errors a user
meets (missing file, unknown architecture, truncated weights, extra or missing tensors)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import transformers as T
from safetensors.numpy import load_file, save_file
from tiny_models import (batch, fake_pretraining_run, hf_models, hf_outputs, max_diffs,
                         our_outputs, save_hf)

from bertlab.convert.__main__ import main, run


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
  """A random HF BertForPreTraining checkpoint with its tokenizer."""
  path = tmp_path_factory.mktemp("hf") / "bert"
  save_hf(hf_models("bert"), path, "safetensors", "bert")
  return path


def fails(argv, capsys) -> str:
  assert main(argv) == 1
  return capsys.readouterr().err


def test_import_prints_what_it_mapped(bert_dir, tmp_path):
  out = subprocess.run([sys.executable, "-m", "bertlab.convert", "import", str(bert_dir),
                        str(tmp_path / "ours")], capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr
  assert "BertForPreTraining -> BertForPretraining: encoder + heads mlm, pair" in out.stdout
  assert "tokenizer: copied" in out.stdout and "vocab.txt" in out.stdout
  assert sorted(p.name for p in (tmp_path / "ours").iterdir()) == [
      "bertlab.json", "bertlab_tokenizer.json", "params.safetensors", "vocab.txt"]


def test_export_of_a_pretraining_workdir(tmp_path):
  """ELECTRA's run -> generator/ + discriminator/, which transformers loads; a newest
  checkpoint that cannot be read is skipped for the one before it."""
  model, params = fake_pretraining_run(tmp_path / "run", "electra", steps=(5,))
  (tmp_path / "run" / "checkpoints" / "9" / "state").mkdir(parents=True)  # killed mid-write
  lines = []
  run(["export", str(tmp_path / "run"), str(tmp_path / "hf")], echo=lines.append)
  assert any("step 5" in line for line in lines), lines
  hf = {h: getattr(T, a).from_pretrained(tmp_path / "hf" / h).eval() for h, a in (
      ("generator", "ElectraForMaskedLM"), ("discriminator", "ElectraForPreTraining"))}
  b = batch(model.config.pad_token_id)
  diffs = max_diffs(hf_outputs(hf, b), our_outputs(model, params, b), b[1])
  assert all(d <= 1e-5 for d in diffs.values()), diffs
  assert (tmp_path / "hf" / "discriminator" / "vocab.txt").is_file()


def test_missing_directory_and_config(tmp_path, capsys):
  assert "nowhere does not exist" in fails(["import", str(tmp_path / "nowhere"),
                                            str(tmp_path / "o")], capsys)
  (tmp_path / "empty").mkdir()
  assert "config.json does not exist" in fails(["import", str(tmp_path / "empty"),
                                                str(tmp_path / "o")], capsys)
  assert "is not a checkpoint bertlab reads" in fails(["export", str(tmp_path / "empty"),
                                                       str(tmp_path / "o")], capsys)


def test_unknown_architecture(bert_dir, tmp_path, capsys):
  hf = tmp_path / "mc"
  hf.mkdir()
  config = json.loads((bert_dir / "config.json").read_text())
  (hf / "config.json").write_text(json.dumps(dict(config, architectures=["BertForMultipleChoice"])))
  state = load_file(bert_dir / "model.safetensors")
  save_file({k: v for k, v in state.items() if k.startswith("bert.")}, hf / "model.safetensors")
  err = fails(["import", str(hf), str(tmp_path / "o")], capsys)
  assert "architectures ['BertForMultipleChoice']" in err and "--encoder-only" in err
  assert main(["import", str(hf), str(tmp_path / "o"), "--encoder-only"]) == 0
  (hf / "config.json").write_text(json.dumps(dict(config, model_type="gpt2")))
  assert "model_type 'gpt2'" in fails(["import", str(hf), str(tmp_path / "o2")], capsys)


def test_truncated_weights(bert_dir, tmp_path, capsys):
  hf = tmp_path / "cut"
  hf.mkdir()
  (hf / "config.json").write_bytes((bert_dir / "config.json").read_bytes())
  data = (bert_dir / "model.safetensors").read_bytes()
  (hf / "model.safetensors").write_bytes(data[:len(data) // 2])
  assert "truncated" in fails(["import", str(hf), str(tmp_path / "o")], capsys)
  (hf / "model.safetensors").unlink()
  torch.save({"w": torch.zeros(3)}, hf / "pytorch_model.bin")
  data = (hf / "pytorch_model.bin").read_bytes()
  (hf / "pytorch_model.bin").write_bytes(data[:len(data) // 2])
  assert "truncated" in fails(["import", str(hf), str(tmp_path / "o")], capsys)

  run(["import", str(bert_dir), str(tmp_path / "ours")])  # our own layout, cut short
  params = tmp_path / "ours" / "params.safetensors"
  params.write_bytes(params.read_bytes()[:1000])
  assert "truncated" in fails(["export", str(tmp_path / "ours"), str(tmp_path / "o3")], capsys)


def test_extra_and_missing_tensors(bert_dir, tmp_path, capsys):
  hf = tmp_path / "odd"
  hf.mkdir()
  (hf / "config.json").write_bytes((bert_dir / "config.json").read_bytes())
  state = load_file(bert_dir / "model.safetensors")
  del state["bert.encoder.layer.1.output.dense.bias"]
  state["bert.encoder.layer.1.extra.weight"] = np.zeros(3, np.float32)
  save_file(state, hf / "model.safetensors")
  err = fails(["import", str(hf), str(tmp_path / "o")], capsys)
  assert "missing    bert.encoder.layer.1.output.dense.bias" in err
  assert "unexpected bert.encoder.layer.1.extra.weight" in err

  run(["import", str(bert_dir), str(tmp_path / "ours")])  # our layout: one leaf too many
  params = load_file(tmp_path / "ours" / "params.safetensors")
  params["encoder/extra"] = np.zeros(2, np.float32)
  del params["mlm/bias"]
  save_file(params, tmp_path / "ours" / "params.safetensors")
  err = fails(["export", str(tmp_path / "ours"), str(tmp_path / "o2")], capsys)
  assert "missing    mlm/bias" in err and "unexpected encoder/extra" in err


def test_refuses_to_overwrite(bert_dir, tmp_path, capsys):
  (tmp_path / "full").mkdir()
  (tmp_path / "full" / "notes.txt").write_text("keep me")
  err = fails(["import", str(bert_dir), str(tmp_path / "full")], capsys)
  assert "not empty" in err and "--force" in err
  run(["import", str(bert_dir), str(tmp_path / "ours")])
  assert "is already ours" in fails(["import", str(tmp_path / "ours"), str(tmp_path / "o")],
                                    capsys)
