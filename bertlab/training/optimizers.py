"""Optimizers and schedules from optax, as the papers use them.

AdamW (BERT/RoBERTa/ELECTRA/SpanBERT) or LAMB (ALBERT, BERT-large at large batch); linear
warmup then linear or polynomial decay; global-norm clipping; weight decay off LayerNorm
parameters and biases; a NaN/Inf guard that skips a bad update and counts it.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

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


class Guarded(NamedTuple):
  """An optax transformation with `optax.apply_if_finite`'s guard (same state, same counts,
  never gives up), whose inner transformation stays reachable so that `update_params` can put
  the parameter update inside the guard too."""

  init: Callable
  update: Callable
  inner: optax.GradientTransformation


def guard(inner: optax.GradientTransformation) -> Guarded:
  outer = optax.apply_if_finite(inner, max_consecutive_errors=1 << 30)
  return Guarded(outer.init, outer.update, inner)


def update_params(tx, grads, opt_state, params):
  """(new params, new optimizer state): `tx.update` then `optax.apply_updates`.

  For a `Guarded` transformation the whole of it (clip, Adam, the parameter add) runs inside
  one `lax.cond` on the gradients' finiteness. apply_if_finite conds around the update alone,
  which XLA cannot fuse with the add that follows: the updates are written out and read back
  and every leaf is scanned for NaN/Inf on its own. Measured at bert-base size on this
  project's CPU machine: clip + AdamW + guard + add 266 ms -> 113 ms (no guard at all: 100 ms).
  A step is skipped when the gradients' global norm is not finite (a NaN or Inf, or a sum of
  squares past float32's range); a skipped step keeps the parameters and the inner state.
  """
  if not isinstance(tx, Guarded):
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state
  finite = jnp.isfinite(optax.global_norm(grads))

  def apply(_):
    updates, inner_state = tx.inner.update(grads, opt_state.inner_state, params)
    return optax.apply_updates(params, updates), inner_state

  new_params, inner_state = jax.lax.cond(
      finite, apply, lambda _: (params, opt_state.inner_state), None)
  bad = 1 - finite.astype(jnp.int32)
  return new_params, optax.ApplyIfFiniteState(
      notfinite_count=(opt_state.notfinite_count + 1) * bad, last_finite=finite,
      total_notfinite=opt_state.total_notfinite + bad, inner_state=inner_state)


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
  return guard(tx), lr


def bad_step_counts(opt_state) -> tuple:
  """(consecutive, total) non-finite updates skipped so far, from apply_if_finite's state."""
  return opt_state.notfinite_count, opt_state.total_notfinite
