"""Run 5 train steps of a tiny BERT on one mesh; print the losses as JSON (used by tests)."""

import json
import sys

import jax
import ml_collections
import numpy as np

from bertlab.encoder import EncoderConfig
from bertlab.objectives.pretraining import zeros_like_batch
from bertlab.objectives.registry import build_model
from bertlab.training import mesh as mesh_lib
from bertlab.training import optimizers
from bertlab.training import step as step_lib
from bertlab.training.loop import place


def batches(n, b=8, l=16, p=4, vocab=64):
  rng = np.random.default_rng(0)
  for _ in range(n):
    x = {k: np.array(v) for k, v in zeros_like_batch(b, l, p).items()}
    x["input_ids"] = rng.integers(1, vocab, (b, l)).astype(np.int32)
    x["attention_mask"][:, l - 3:] = 0
    x["mlm_positions"] = rng.integers(1, l - 3, (b, p)).astype(np.int32)
    x["mlm_ids"] = rng.integers(1, vocab, (b, p)).astype(np.int32)
    x["mlm_weights"] = np.ones((b, p), np.float32)
    x["nsp_label"] = rng.integers(0, 2, (b,)).astype(np.int32)
    yield x


def main(mesh_shape, family="bert", hidden=32, batch=8, vocab=64, vocab_multiple=1):
  cfg = EncoderConfig(vocab_size=vocab, hidden_size=hidden, num_layers=2, num_heads=4,
                      intermediate_size=64, hidden_dropout=0.0, attention_dropout=0.0,
                      vocab_multiple=vocab_multiple)
  model = build_model(family, cfg)
  opt = ml_collections.ConfigDict(dict(
      name="adamw", learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-6, weight_decay=0.01,
      warmup_steps=1, schedule="linear", power=1.0, end_lr_ratio=0.0, clip_norm=1.0))
  tx, lr = optimizers.build(opt, 5)
  mesh = mesh_lib.make_mesh(mesh_shape)
  data = list(batches(5, b=batch, vocab=vocab))
  steps = step_lib.build(model, tx, lr, mesh, data[0], seed=0)
  state = steps.init()
  losses = []
  for b in data:
    state, m = steps.train(state, place(b, steps.batch_sharding))
    losses.append(float(m["loss"]))
  print(json.dumps({"mesh": mesh_shape, "devices": jax.device_count(), "losses": losses}))


if __name__ == "__main__":
  args = json.loads(sys.argv[1])
  main(**args)
