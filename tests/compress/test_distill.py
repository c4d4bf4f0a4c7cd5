"""Distillation: the losses by hand, a student that learns from a frozen teacher in the
training step, and DistilBERT's layer pick (the driver: test_distill_run.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bertlab.compress import distill_loss, distill_setup
from bertlab.compress.distill import Distiller
from bertlab.compress.distill_config import distill_config
from bertlab.encoder import EncoderConfig
from bertlab.tasks.models import TaskModel
from bertlab.training import mesh as mesh_lib
from bertlab.training import optimizers
from bertlab.training import step as step_lib

TEACHER = EncoderConfig(vocab_size=40, hidden_size=32, num_layers=2, num_heads=4,
                        intermediate_size=64, max_position_embeddings=16, initializer_range=0.2,
                        hidden_dropout=0.0, attention_dropout=0.0)


def test_soft_target_kl_by_hand():
  # T = 2: teacher logits (0, 2 ln 3) -> softmax(t / T) = (1/4, 3/4); student (0, 0) -> (1/2, 1/2).
  # KL = 1/4 ln(1/2) + 3/4 ln(3/2); times T² = 4: ln(1/2) + 3 ln(3/2) = ln(27/16).
  teacher = jnp.array([[0.0, 2 * np.log(3.0)], [5.0, -5.0]])
  student = jnp.array([[0.0, 0.0], [-5.0, 5.0]])
  weights = jnp.array([1.0, 0.0])  # the second row is not counted
  got = distill_loss.soft_target_kl(student, teacher, weights, temperature=2.0)
  assert float(got) == pytest.approx(np.log(27 / 16), rel=1e-6)
  assert float(distill_loss.soft_target_kl(teacher, teacher, jnp.ones(2), 3.0)) == pytest.approx(
      0.0, abs=1e-6)


def test_hidden_mse_by_hand():
  s = jnp.array([[[1.0, 2.0], [0.0, 0.0]]])
  t = jnp.array([[[0.0, 0.0], [9.0, 9.0]]])
  # Token 0: ((1 - 0)² + (2 - 0)²) / 2 = 2.5; token 1 is padding.
  assert float(distill_loss.hidden_mse(s, t, jnp.array([[1, 0]]))) == pytest.approx(2.5)


def test_task_kd_of_token_and_span_heads_ignores_padding():
  rng = np.random.default_rng(1)
  mask = jnp.array([[1, 1, 1, 0], [1, 1, 0, 0]])
  t = jnp.asarray(rng.normal(size=(2, 4, 3)), jnp.float32)
  s = jnp.asarray(rng.normal(size=(2, 4, 3)), jnp.float32)
  s_junk = s.at[:, 3].set(50.0).at[1, 2].set(-50.0)  # only padded positions change
  for kind in ("token_classification", "span"):
    x_t, x_s, x_junk = (t, s, s_junk) if kind != "span" else (t[..., :2], s[..., :2],
                                                            s_junk[..., :2])
    loss = lambda x: float(distill_loss.task_kd(kind, x, x_t, {"attention_mask": mask}, 2.0))
    assert loss(x_s) > 0 and loss(x_junk) == pytest.approx(loss(x_s), rel=1e-6), kind
    assert loss(x_t) == pytest.approx(0.0, abs=1e-6)
  # One output (STS-B): no distribution; squared error to the teacher's score.
  assert float(distill_loss.task_kd("regression", jnp.array([[1.0], [3.0]]),
                                    jnp.array([[0.0], [1.0]]), {}, 2.0)) == pytest.approx(2.5)


def _batches(n, b=16, seq=10):
  rng = np.random.default_rng(0)
  out = []
  for _ in range(n):
    mask = np.ones((b, seq), np.int32)
    mask[:, 7:] = rng.integers(0, 2, (b, 1))
    out.append({"input_ids": rng.integers(0, 40, (b, seq)).astype(np.int32),
                "attention_mask": mask, "token_type_ids": np.zeros((b, seq), np.int32),
                "label": rng.integers(0, 2, b).astype(np.int32)})
  return out


def test_student_learns_from_a_frozen_teacher_in_the_training_step():
  # A narrower student (H 16 vs 32): the hidden-state loss goes through a learned projection.
  student_cfg = TEACHER.replace(num_layers=1, hidden_size=16, num_heads=2, intermediate_size=32)
  model = Distiller(TaskModel(TEACHER, "classification", 2),
                    TaskModel(student_cfg, "classification", 2), "task", temperature=1.0,
                    alpha_kd=1.0, alpha_hard=0.2, alpha_hidden=0.1)
  opt = distill_config("task").optimizer
  opt.learning_rate, opt.warmup_steps, opt.schedule = 3e-3, 0, "constant"
  tx, schedule = optimizers.build(opt, 40)
  batches = _batches(4)
  steps = step_lib.build(model, distill_setup.freeze_teacher(tx), schedule,
                         mesh_lib.make_mesh((1, 1, 1), jax.devices()[:1]), batches[0], seed=0)
  state = steps.init()
  assert state.params["projection"]["kernel"].shape == (16, 32)
  teacher_before = jax.device_get(state.params["teacher"])
  first = [jax.device_get(steps.eval(state.params, b)) for b in batches]
  m = first[0]
  assert float(m["loss"]) == pytest.approx(
      float(m["kd_loss"]) + 0.2 * float(m["hard_loss"]) + 0.1 * float(m["hidden_mse"]), rel=1e-6)
  for i in range(40):
    state, metrics = steps.train(state, batches[i % 4])
  kd = lambda ms: float(np.mean([x["kd_loss"] for x in ms]))
  last = [jax.device_get(steps.eval(state.params, b)) for b in batches]
  assert kd(last) < 0.5 * kd(first), (kd(first), kd(last))
  teacher_after = jax.device_get(state.params["teacher"])
  assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(teacher_before),
                                                   jax.tree_util.tree_leaves(teacher_after)))
  assert "teacher_accuracy" in metrics and "student_accuracy" in metrics


def test_student_layers_are_every_kth_teacher_layer():
  t_cfg = TEACHER.replace(num_layers=12)
  layers = {"w": np.arange(12)[:, None] * np.ones((12, 3))}
  teacher = {"encoder": {"stack": {"layers": layers}, "embeddings": {"e": np.ones(2)}}}
  picked = distill_setup.teacher_layer_params(teacher, t_cfg, t_cfg.replace(num_layers=6))
  np.testing.assert_array_equal(picked["encoder"]["stack"]["layers"]["w"][:, 0],
                                [0, 2, 4, 6, 8, 10])
  assert picked["encoder"]["embeddings"] is teacher["encoder"]["embeddings"]
  with pytest.raises(ValueError, match="needs the teacher's widths"):
    distill_setup.teacher_layer_params(teacher, t_cfg, t_cfg.replace(hidden_size=16,
                                                                     num_heads=2))
