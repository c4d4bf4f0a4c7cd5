"""Fine-tuning packs token-classification rows, or pads each batch to its own chosen length:
same losses and scores as padding to max_seq_len, on a tiny CoNLL run; the length-sorted
windows keep every example."""

import json
import os
import sys

import numpy as np
import transformers as T

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "convert"))
from hub_dirs import write_tokenizer  # noqa: E402

from bertlab import finetune  # noqa: E402
from bertlab.finetune_config import finetune_config, validate  # noqa: E402
from bertlab.tasks.finetune_data import Split, model_batch, sort_within_windows  # noqa: E402

PHRASES = [("ada", "B-PER"), ("lovelace", "I-PER")], [("charles", "B-PER"), ("babbage", "I-PER")], \
    [("london", "B-LOC")], [("paris", "B-LOC")], [("lives", "O")], [("in", "O")], \
    [("she", "O")], [("worked", "O"), ("with", "O")], [("the", "O"), ("cat", "O")], [(".", "O")]


def conll_text(n, seed):
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    for k in rng.integers(0, len(PHRASES), size=int(rng.integers(1, 10))):
      out += [f"{w} {t}" for w, t in PHRASES[k]]
    out.append("")
  return "\n".join(out) + "\n"


def _run(tmp_path, model_dir, name, **overrides):
  c = finetune_config("conll2003")
  c.init_from = str(model_dir)
  c.train_file, c.eval_file = str(tmp_path / "train.txt"), str(tmp_path / "dev.txt")
  c.max_seq_len, c.batch_size, c.eval_batch_size, c.total_steps = 64, 8, 32, 24
  c.optimizer.learning_rate, c.log_every_steps, c.save_checkpoint = 1e-2, 1, False
  c.hidden_dropout = c.attention_dropout = c.classifier_dropout = 0.0  # same computation
  for k, v in overrides.items():
    c[k] = v
  validate(c)
  result = finetune.run(c, str(tmp_path / name), echo=lambda *_: None)
  lines = (tmp_path / name / "seed_0" / "metrics.jsonl").read_text().splitlines()
  metrics = [json.loads(x) for x in lines]
  return result, metrics


def test_per_batch_padding_changes_no_result(tmp_path):
  model_dir = tmp_path / "bert"
  write_tokenizer(model_dir)
  T.BertModel(T.BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                           initializer_range=0.2)).save_pretrained(model_dir)
  (tmp_path / "train.txt").write_text(conll_text(40, 0))
  (tmp_path / "dev.txt").write_text(conll_text(20, 1))
  packed, packed_m = _run(tmp_path, model_dir, "packed")  # the default: rows packed
  cut, cut_m = _run(tmp_path, model_dir, "per_batch", pack_rows=False)
  full, full_m = _run(tmp_path, model_dir, "padded", pad_per_batch=False, pack_rows=False)
  losses = lambda ms: [m["loss"] for m in ms if "loss" in m]
  np.testing.assert_allclose(losses(cut_m), losses(full_m), rtol=1e-4)
  np.testing.assert_allclose(losses(packed_m), losses(full_m), rtol=1e-4)
  assert packed == cut == full and cut["entity_f1"] > 0
  tokens = lambda ms: [m["nonpad_tokens"] for m in ms if "nonpad_tokens" in m]
  assert tokens(packed_m) == tokens(cut_m) == tokens(full_m)
  timing = [json.loads((tmp_path / n / "seed_0" / "timing.json").read_text())
            for n in ("packed", "per_batch", "padded")]
  # 8 sentences of 3-20 tokens: fewer computed tokens packed than cut, cut than padded.
  assert timing[0]["train_tokens"] < timing[1]["train_tokens"] < timing[2]["train_tokens"]
  assert timing[2]["train_shapes"] == [[8, 64]]
  assert all(n == 64 for _, n in timing[0]["train_shapes"])
  # Evaluation of the 20 dev sentences: packed into rows of 64 (one call), against 32 rows
  # cut to the longest, against 32 rows of 64.
  assert timing[0]["eval_tokens"] < timing[1]["eval_tokens"] < timing[2]["eval_tokens"]
  assert timing[0]["eval_lengths"] == [64] and timing[2]["eval_tokens"] == 32 * 64


def test_model_batch_cuts_padding_and_windows_keep_examples():
  mask = np.zeros((4, 64), np.int32)
  for i, n in enumerate([5, 40, 17, 3]):
    mask[i, :n] = 1
  split = Split({"input_ids": mask * 7, "token_type_ids": mask * 0, "attention_mask": mask,
                 "labels": np.where(mask == 1, 1, -100)}, [None] * 4)
  b = model_batch(split, np.array([0, 2]), "token_classification", per_batch=True)
  assert {k: v.shape for k, v in b.items()} == {k: (2, 32) for k in b}  # 17 -> 32
  assert model_batch(split, np.array([1]), "token_classification", True)["labels"].shape == (1, 64)
  order = np.arange(24).reshape(6, 4)
  lengths = np.random.default_rng(0).integers(1, 60, 24)
  sorted_order = sort_within_windows(order, lengths, 3, seed=0)
  for s in (0, 3):  # each window of 3 batches holds the same examples, batches length-sorted
    assert sorted(sorted_order[s:s + 3].ravel()) == sorted(order[s:s + 3].ravel())
  spread = lambda o: np.mean([np.ptp(lengths[b]) for b in o])
  assert spread(sorted_order) < spread(order)
  assert (sort_within_windows(order, lengths, 0, seed=0) == order).all()
