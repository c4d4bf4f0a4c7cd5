"""distill.py end to end on a tiny fine-tuned model: train, export, evaluate, resume.

The teacher is a finetune.py workdir written directly (config.json, eval_results.json and
seed_0/checkpoint of a random tiny BERT whose init_from is an HF directory written by our own
converter): training it first would only add compile time. The driver distils it into a
1-layer student with magnitude pruning on the way.
"""

import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from safetensors.numpy import save_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

from bertlab.compress import artifact, distill_run
from bertlab.compress.distill_config import distill_config, validate
from bertlab.convert.hf import encoder_state_from_params
from bertlab.convert.hf_config import hf_config_from_encoder
from bertlab.encoder import Encoder, EncoderConfig
from bertlab.finetune_config import finetune_config
from bertlab.tasks.models import TaskModel

WORDS = "the a movie was very it is not good bad great film plot".split()


def _hf_dir(path):
  vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS)}
  tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
  tok.normalizer = normalizers.BertNormalizer(lowercase=True)
  tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
  tok.save(str(path / "tokenizer.json"))
  cfg = EncoderConfig(vocab_size=len(vocab), hidden_size=32, num_layers=2, num_heads=2,
                      intermediate_size=64, max_position_embeddings=32, initializer_range=0.2)
  ids = jnp.zeros((1, 4), jnp.int32)
  params = nn.unbox(Encoder(cfg).init(jax.random.key(0), ids))["params"]
  save_file({k: np.ascontiguousarray(v) for k, v in
             encoder_state_from_params(jax.device_get(params), cfg, "bert").items()},
            str(path / "model.safetensors"))
  (path / "config.json").write_text(json.dumps(hf_config_from_encoder(cfg, "bert")))
  return cfg


def _finetuned_workdir(path, config, encoder_cfg):
  """What finetune.run leaves behind, with a random model as its selected checkpoint."""
  path.mkdir()
  (path / "config.json").write_text(config.to_json_best_effort())
  (path / "eval_results.json").write_text("{}")
  model = TaskModel(encoder_cfg, "classification", 2)
  batch = {k: jnp.zeros((1, 8), jnp.int32) for k in ("input_ids", "attention_mask",
                                                      "token_type_ids")}
  params = nn.unbox(model.init(jax.random.key(1), {**batch, "label": jnp.zeros(1, jnp.int32)}))
  ocp.PyTreeCheckpointer().save(str(path / "seed_0" / "checkpoint"),
                                jax.device_get(params["params"]))


def _sst2(path, n, seed):
  rng = np.random.default_rng(seed)
  lines = ["sentence\tlabel"]
  for _ in range(n):
    label = int(rng.integers(2))
    words = list(rng.choice(WORDS[:7], size=int(rng.integers(3, 6))))
    words.insert(int(rng.integers(len(words) + 1)), "good" if label else "bad")
    lines.append(" ".join(words) + f"\t{label}")
  path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_distil_a_finetuned_model_into_a_pruned_student_and_resume(tmp_path):
  hf = tmp_path / "hf"
  hf.mkdir()
  encoder_cfg = _hf_dir(hf)
  _sst2(tmp_path / "train.tsv", 96, 0)
  c = finetune_config("sst2")
  c.init_from, c.train_file, c.holdout_fraction = str(hf), str(tmp_path / "train.tsv"), 0.25
  c.max_seq_len, c.eval_batch_size = 16, 16
  teacher = tmp_path / "teacher"
  _finetuned_workdir(teacher, c, encoder_cfg)

  d = distill_config("task")
  d.teacher, d.student.num_layers, d.student.init = str(teacher), 1, "teacher"
  d.loss.alpha_kd, d.loss.alpha_hard, d.loss.alpha_hidden = 0.8, 0.2, 0.1
  d.prune.final_sparsity, d.prune.end_step, d.prune.frequency = 0.5, 8, 4
  d.batch_size, d.total_steps, d.optimizer.warmup_steps = 16, 12, 0
  d.optimizer.learning_rate, d.log_every_steps, d.eval_every_steps = 3e-3, 6, 12
  d.checkpoint_every_steps, d.eval_batches = 12, 0  # 0: no periodic dev eval to compile
  lines = []
  work = tmp_path / "student_run"
  summary = distill_run.run(d, str(work), echo=lines.append)
  assert summary["layer_sparsity"] == 0.5 and 0.0 <= summary["accuracy"] <= 1.0
  spec, params = artifact.load(str(work / "student"))
  assert spec.encoder.num_layers == 1 and spec.task == "sst2"
  assert json.loads((work / "student" / "eval_results.json").read_text())["accuracy"] == \
      summary["accuracy"]
  assert any("teacher 0." in x and "student" in x for x in lines)
  rows = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
  assert {"kd_loss", "hard_loss", "hidden_mse", "teacher_accuracy"} <= set(rows[0])
  assert rows[-1]["step"] == 12
  # A rerun resumes from the last checkpoint instead of training again.
  lines.clear()
  distill_run.run(d, str(work), echo=lines.append)
  assert any(x.startswith("resumed from step 12") for x in lines)
  assert os.path.isdir(work / "checkpoints" / "12")


@pytest.mark.parametrize("key,value,msg", [
    ("total_steps", 0, r"config.total_steps: expected a positive number; found 0\."),
    ("student.num_heads", -1, r"config.student.num_heads: expected >= 0 \(0: the preset's\); found -1"),
])
def test_a_value_out_of_range_is_named_with_what_was_found(key, value, msg):
  c = distill_config("task")
  c.teacher = "x"
  section, _, name = key.rpartition(".")
  (c[section] if section else c)[name] = value
  with pytest.raises(ValueError, match=msg):
    validate(c)
