"""Distillation losses: soft targets at a temperature, and hidden-state matching.

All reductions in float32. Weights select the rows that count (MLM: the real prediction
slots; sentence tasks: every example, labelled or not: soft targets need no label).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _weighted_mean(x, w):
  w = w.astype(jnp.float32)
  return jnp.sum(x * w) / jnp.maximum(jnp.sum(w), 1e-9)


def soft_target_kl(student_logits_xC, teacher_logits_xC, weights_x, temperature: float):
  """T² · mean_x w_x · KL(softmax(t_x / T) ‖ softmax(s_x / T)): a scalar.

  Hinton et al. 2015 §2 (the T² keeps the gradient's scale as T changes); DistilBERT's L_ce
  on MLM logits. Logits [..., C]; weights [...] (0 drops a row). Equal to the soft
  cross-entropy minus the teacher's entropy, so a student equal to its teacher scores 0.
  """
  t = teacher_logits_xC.astype(jnp.float32) / temperature
  s = student_logits_xC.astype(jnp.float32) / temperature
  log_p_t, log_p_s = jax.nn.log_softmax(t, -1), jax.nn.log_softmax(s, -1)
  kl_x = jnp.sum(jnp.exp(log_p_t) * (log_p_t - log_p_s), axis=-1)
  return temperature ** 2 * _weighted_mean(kl_x, weights_x)


def hidden_mse(student_BxLxH, teacher_BxLxH, mask_BxL):
  """Mean over real tokens of the mean squared difference over the H features.

  The student's states are already projected to the teacher's width when they differ.
  """
  se_BxL = jnp.mean((student_BxLxH.astype(jnp.float32)
                     - teacher_BxLxH.astype(jnp.float32)) ** 2, axis=-1)
  return _weighted_mean(se_BxL, mask_BxL)


def task_kd(kind: str, student_logits, teacher_logits, batch, temperature: float):
  """The soft-target loss of a task head's logits (kinds of `tasks.models.KINDS`).

  classification: KL over classes per example; token_classification: per real token;
  span: KL over positions (padding excluded) for the start and for the end;
  regression (one output, no distribution): squared error to the teacher's score.
  """
  if kind == "classification":
    weights_B = jnp.ones(student_logits.shape[:1], jnp.float32)
    return soft_target_kl(student_logits, teacher_logits, weights_B, temperature)
  if kind == "token_classification":
    return soft_target_kl(student_logits, teacher_logits, batch["attention_mask"], temperature)
  if kind == "span":
    real_Bx1xL = batch["attention_mask"][:, None, :] > 0
    over_positions = lambda x_BxLx2: jnp.where(
        real_Bx1xL, jnp.swapaxes(x_BxLx2.astype(jnp.float32), 1, 2), -1e9)
    weights_Bx2 = jnp.ones(student_logits.shape[:1] + (2,), jnp.float32)
    return soft_target_kl(over_positions(student_logits), over_positions(teacher_logits),
                          weights_Bx2, temperature)
  if kind == "regression":
    return jnp.mean((student_logits[:, 0].astype(jnp.float32)
                     - teacher_logits[:, 0].astype(jnp.float32)) ** 2)
  raise ValueError(f"task_kd: expected a kind of tasks.models.KINDS; found {kind!r}.")
