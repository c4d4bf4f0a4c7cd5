"""The NaN/Inf guard: a bad update is skipped and counted; N in a row stop the run."""

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from bertlab.training import loop, optimizers
from bertlab.training import mesh as mesh_lib
from bertlab.training import step as step_lib


class Toy(nn.Module):
  """loss = (w - x)^2, NaN when the batch says so."""

  @nn.compact
  def __call__(self, batch, deterministic=True):
    w = self.param("w", nn.with_logical_partitioning(nn.initializers.ones_init(), (None,)), (2,))
    loss = jnp.mean((w - batch["x"]) ** 2) * jnp.where(batch["poison"][0] > 0, jnp.nan, 1.0)
    return loss, {"loss": loss}


class Batches:
  def __init__(self, poison_from):
    self.i, self.poison_from = 0, poison_from

  def __next__(self):
    self.i += 1
    return {"x": np.zeros((2, 2), np.float32),
            "poison": np.full((2,), int(self.i >= self.poison_from), np.int32)}

  def get_state(self):
    return {"i": self.i}

  def set_state(self, s):
    self.i = s["i"]


def _setup(total_steps=20, max_bad=3):
  cfg = ml_collections.ConfigDict(dict(
      optimizer=dict(name="adamw", learning_rate=0.1, b1=0.9, b2=0.999, eps=1e-6,
                     weight_decay=0.0, warmup_steps=0, schedule="constant", power=1.0,
                     end_lr_ratio=0.0, clip_norm=0.0, max_consecutive_bad_steps=max_bad),
      total_steps=total_steps, keep_checkpoints=2, progress_bar=False, log_every_steps=1,
      eval_every_steps=100, checkpoint_every_steps=100))
  tx, lr = optimizers.build(cfg.optimizer, total_steps)
  example = next(Batches(100))
  steps = step_lib.build(Toy(), tx, lr, mesh_lib.make_mesh((1, 1, 1)), example, seed=0)
  return cfg, steps


def test_bad_update_is_skipped_and_counted():
  _, steps = _setup()
  state = steps.init()
  good = {"x": np.zeros((2, 2), np.float32), "poison": np.zeros((2,), np.int32)}
  bad = dict(good, poison=np.ones((2,), np.int32))
  state, _ = steps.train(state, good)
  w = np.asarray(state.params["w"])
  state, m = steps.train(state, bad)
  np.testing.assert_array_equal(state.params["w"], w)  # skipped: parameters unchanged
  assert int(m["skipped"]) == 1
  assert [int(x) for x in optimizers.bad_step_counts(state.opt_state)] == [1, 1]
  state, _ = steps.train(state, good)
  assert [int(x) for x in optimizers.bad_step_counts(state.opt_state)] == [0, 1]


def test_consecutive_bad_steps_stop_the_run(tmp_path):
  cfg, steps = _setup(max_bad=3)
  with pytest.raises(loop.BadStepsError, match="3 consecutive steps had non-finite"):
    loop.run(steps=steps, train_iter=Batches(poison_from=5), eval_batches=[], config=cfg,
             workdir=str(tmp_path), echo=lambda *_: None)
