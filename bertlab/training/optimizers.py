"""Optimizers and schedules from optax, as the papers use them.

AdamW (BERT/RoBERTa/ELECTRA/SpanBERT) or LAMB (ALBERT, BERT-large at large batch); linear
warmup then linear or polynomial decay; global-norm clipping; weight decay off LayerNorm
parameters and biases; a NaN/Inf guard that skips a bad update and counts it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

OPTIMIZERS = ("adamw", "lamb")
SCHEDULES = ("linear", "polynomial", "constant")


def schedule(cfg, total_steps: int) -> optax.Schedule:
  """Linear warmup from 0 to `learning_rate`, then decay to `end_lr_ratio` of it."""
  if cfg.schedule not in SCHEDULES:
    raise ValueError(f"optimizer.schedule: {cfg.schedule!r} is not one of {SCHEDULES}")
  warmup = min(cfg.warmup_steps, total_steps)
  peak, end = cfg.learning_rate, cfg.learning_rate * cfg.end_lr_ratio
  if cfg.schedule == "constant":
    decay = optax.constant_schedule(peak)
  else:
    power = 1.0 if cfg.schedule == "linear" else cfg.power
    decay = optax.polynomial_schedule(peak, end, power, max(total_steps - warmup, 1))
  return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), decay], [warmup])


def decay_mask(params):
  """True where weight decay applies: kernels and embeddings, not LayerNorm or biases."""
  def keep(path, _):
    names = [getattr(k, "key", str(k)) for k in path]
    return names[-1] not in ("bias", "scale")
  return jax.tree_util.tree_map_with_path(keep, params)


def clip_by_global_norm(max_norm: float) -> optax.GradientTransformation:
  """`optax.clip_by_global_norm` in the form optax's own TODO calls faster: one scale factor,
  min(1, max_norm / norm), multiplied into every leaf. XLA fuses that multiply into Adam's
  update, where it materialises optax's per-leaf select between t and t / norm * max_norm
  (kept there for meta-gradients, which training does not take). Measured on this project's CPU
  machine at bert-base size: clip + AdamW 280 ms -> 150 ms per update (plain AdamW 120 ms).
  Equal to optax's values up to rounding of the scaled leaves; unchanged below the threshold."""

  def update(updates, state, params=None):
    del params
    norm = optax.global_norm(updates)
    scale = jnp.minimum(1.0, max_norm / jnp.maximum(norm, jnp.finfo(jnp.float32).tiny))
    return jax.tree_util.tree_map(lambda t: t * scale.astype(t.dtype), updates), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def build(cfg, total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """The optimizer of `cfg` (config.optimizer) and its learning-rate schedule."""
  if cfg.name not in OPTIMIZERS:
    raise ValueError(f"optimizer.name: {cfg.name!r} is not one of {OPTIMIZERS}")
  lr = schedule(cfg, total_steps)
  if cfg.name == "adamw":
    opt = optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay,
                      mask=decay_mask)
  else:
    opt = optax.lamb(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay,
                     mask=decay_mask)
  chain = [clip_by_global_norm(cfg.clip_norm)] if cfg.clip_norm > 0 else []
  tx = optax.chain(*chain, opt)
  # Skipped updates are counted in the state; the loop stops the run after
  # `max_consecutive_bad_steps` (apply_if_finite alone would apply them anyway).
  return optax.apply_if_finite(tx, max_consecutive_errors=1 << 30), lr


def bad_step_counts(opt_state) -> tuple:
  """(consecutive, total) non-finite updates skipped so far, from apply_if_finite's state."""
  return opt_state.notfinite_count, opt_state.total_notfinite
