"""config.init_from reads a directory `python -m bertlab.convert import` wrote: the same run as
from the Hugging Face directory it came from."""

import json
import os
import subprocess
import sys

import numpy as np
import transformers as T

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "convert"))
from hub_dirs import write_tokenizer  # noqa: E402

from bertlab import finetune  # noqa: E402
from bertlab.finetune_config import finetune_config, validate  # noqa: E402
from bertlab.finetune_init import load_pretrained  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sst2_lines(n, seed):
  rng = np.random.default_rng(seed)
  filler = ["the", "movie", "was", "very", "a", "cat", "it", "is", "not"]
  lines = ["sentence\tlabel"]
  for _ in range(n):
    label = int(rng.integers(2))
    words = list(rng.choice(filler, size=int(rng.integers(2, 6)))) + ["good" if label else "bad"]
    lines.append(" ".join(words) + f"\t{label}")
  return "\n".join(lines) + "\n"


def _run(tmp_path, init_from, name, **kw):
  c = finetune_config("sst2")
  c.init_from, c.train_file, c.eval_file = str(init_from), str(tmp_path / "train.tsv"), str(
      tmp_path / "dev.tsv")
  c.max_seq_len, c.batch_size, c.eval_batch_size, c.total_steps = 16, 8, 16, 4
  c.log_every_steps, c.save_checkpoint = 1, False
  c.hidden_dropout = c.attention_dropout = c.classifier_dropout = 0.0
  c.update(kw)
  validate(c)
  result = finetune.run(c, str(tmp_path / name), echo=lambda *_: None)
  lines = (tmp_path / name / "seed_0" / "metrics.jsonl").read_text().splitlines()
  return result, [json.loads(x)["loss"] for x in lines if '"loss"' in x]


def test_init_from_an_imported_directory(tmp_path):
  hf = tmp_path / "hf"
  write_tokenizer(hf)
  T.BertModel(T.BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                           initializer_range=0.2)).save_pretrained(hf)
  ours = tmp_path / "ours"
  subprocess.run([sys.executable, "-m", "bertlab.convert", "import", str(hf), str(ours)],
                 check=True, cwd=ROOT, capture_output=True,
                 env={**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"})
  pre = load_pretrained(str(ours), "classification", 2)
  assert pre.family == "bert" and pre.params["head"] is None and pre.tokenizer_dir == str(ours)
  (tmp_path / "train.tsv").write_text(sst2_lines(24, 0))
  (tmp_path / "dev.tsv").write_text(sst2_lines(16, 1))
  from_ours, losses_ours = _run(tmp_path, ours, "from_ours")
  from_hf, losses_hf = _run(tmp_path, hf, "from_hf")
  np.testing.assert_allclose(losses_ours, losses_hf, rtol=1e-5)
  assert from_ours == from_hf


def test_fine_tuning_with_a_padded_vocabulary(tmp_path):
  """vocab_multiple=128 pads an HF checkpoint's 300-row table to 384: the same losses and
  results as unpadded, and the exported model has the real 300 rows again."""
  from safetensors.numpy import load_file

  from bertlab.convert.__main__ import run as convert

  hf = tmp_path / "hf"
  write_tokenizer(hf)
  T.BertModel(T.BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                           initializer_range=0.2)).save_pretrained(hf)
  (tmp_path / "train.tsv").write_text(sst2_lines(24, 0))
  (tmp_path / "dev.tsv").write_text(sst2_lines(16, 1))
  plain, losses_plain = _run(tmp_path, hf, "plain")
  padded, losses_padded = _run(tmp_path, hf, "padded", vocab_multiple=128, save_checkpoint=True)
  np.testing.assert_allclose(losses_padded, losses_plain, rtol=1e-5)
  assert padded == plain
  convert(["export", str(tmp_path / "padded"), str(tmp_path / "out")], echo=lambda *_: None)
  w = load_file(str(tmp_path / "out" / "model.safetensors"))
  assert w["bert.embeddings.word_embeddings.weight"].shape == (300, 32)
