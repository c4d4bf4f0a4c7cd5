"""Knowledge distillation as one model: a frozen teacher and a student in the same jit'ed step.

`Distiller(teacher, student, objective)` is a linen module with the training step's contract
(`apply(batch, deterministic, rngs) -> (loss, metrics)`), so `training.step.build` and
`training.loop.run` train it like any other model: same sharding, checkpoints and logs. Its
params are {"teacher": ..., "student": ..., "projection": ... (when used)}. The teacher
always runs in inference mode (no dropout) under `stop_gradient`, so no backward pass goes
through it; `distill_setup.freeze_teacher` keeps the optimizer from touching its weights.

  objective "task": teacher and student are `tasks.models.TaskModel`s (any kinds' heads);
                    soft targets on the task logits (`distill_loss.task_kd`).
  objective "mlm":  both are `objectives.pretraining.MaskedLmModel`s sharing a vocabulary;
                    soft targets on the MLM logits at the masked positions (DistilBERT).

loss = alpha_kd · KD(T) + alpha_hard · (the student's own loss on the labels)
       + alpha_hidden · MSE(P · h_student, h_teacher)   over the last layer's real tokens,
where P is a learned H_s -> H_t projection when the widths differ (identity otherwise).
"""

from __future__ import annotations

import flax.linen as nn
import jax

from bertlab.compress import distill_loss
from bertlab.encoder.common import dense
from bertlab.objectives import losses
from bertlab.tasks.models import LOSSES

OBJECTIVES = ("task", "mlm")


def model_outputs(model: nn.Module, objective: str, batch, deterministic: bool):
  """(logits, last hidden states [B, L, H]) of a TaskModel or MaskedLmModel on `batch`."""
  if objective == "task":
    hidden_BxLxH, pooled_BxH = model.encoder(batch["input_ids"], batch["attention_mask"],
                                             batch["token_type_ids"], deterministic=deterministic)
    return model.head(hidden_BxLxH, pooled_BxH, deterministic=deterministic), hidden_BxLxH
  out = model.logits(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"),
                     batch["mlm_positions"], deterministic)
  return out["mlm"], out["hidden"]


class Distiller(nn.Module):
  teacher: nn.Module
  student: nn.Module
  objective: str = "task"
  temperature: float = 2.0
  alpha_kd: float = 1.0
  alpha_hard: float = 0.0
  alpha_hidden: float = 0.0

  def setup(self):
    if self.objective not in OBJECTIVES:
      raise ValueError(f"Distiller.objective: expected one of {OBJECTIVES}; found "
                       f"{self.objective!r}.")
    t, s = self.teacher.config, self.student.config
    if self.objective == "mlm" and (t.vocab_size, t.padded_vocab_size) != (
        s.vocab_size, s.padded_vocab_size):
      raise ValueError(f"MLM distillation compares logits over one vocabulary: the teacher has "
                       f"vocab_size {t.vocab_size} padded to {t.padded_vocab_size}, the student "
                       f"{s.vocab_size} padded to {s.padded_vocab_size}; give the student the "
                       "teacher's vocabulary (and tokenizer) and vocab_multiple.")
    self.projection = (dense(s, t.hidden_size, ("embed", None), "projection")
                       if self.alpha_hidden and s.hidden_size != t.hidden_size else None)

  def __call__(self, batch, deterministic: bool = True):
    t_logits, t_hidden_BxLxH = jax.lax.stop_gradient(
        model_outputs(self.teacher, self.objective, batch, deterministic=True))
    s_logits, s_hidden_BxLxH = model_outputs(self.student, self.objective, batch, deterministic)
    if self.objective == "task":
      kind = self.student.kind
      hard, student_m = LOSSES[kind](s_logits, batch)
      _, teacher_m = LOSSES[kind](t_logits, batch)
      kd = distill_loss.task_kd(kind, s_logits, t_logits, batch, self.temperature)
    else:
      hard, student_m = losses.masked_lm(s_logits, batch["mlm_ids"], batch["mlm_weights"])
      _, teacher_m = losses.masked_lm(t_logits, batch["mlm_ids"], batch["mlm_weights"])
      student_m = {f"mlm_{k}": v for k, v in student_m.items() if k != "count"}
      teacher_m = {f"mlm_{k}": v for k, v in teacher_m.items() if k != "count"}
      kd = distill_loss.soft_target_kl(s_logits, t_logits, batch["mlm_weights"],
                                       self.temperature)
    loss = self.alpha_kd * kd + self.alpha_hard * hard
    metrics = {"kd_loss": kd, "hard_loss": hard}
    if self.alpha_hidden:
      if self.projection is not None:
        s_hidden_BxLxH = self.projection(s_hidden_BxLxH)
      mse = distill_loss.hidden_mse(s_hidden_BxLxH, t_hidden_BxLxH, batch["attention_mask"])
      loss = loss + self.alpha_hidden * mse
      metrics["hidden_mse"] = mse
    metrics.update({f"student_{k}": v for k, v in student_m.items() if k != "loss"})
    metrics.update({f"teacher_{k}": v for k, v in teacher_m.items()})
    metrics["loss"] = loss
    return loss, metrics

