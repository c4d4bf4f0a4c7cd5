"""Model FLOPs of a training step, counted from the architecture, and the machine's matmul peak."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from bertlab.encoder import EncoderConfig


def encoder_forward_flops(cfg: EncoderConfig, batch: int, seq: int) -> float:
  """Multiply-adds x 2 of one encoder forward pass: projections, FFN, attention scores."""
  h, f, e = cfg.hidden_size, cfg.intermediate_size, cfg.embed_dim
  tokens = batch * seq
  per_layer = 2 * tokens * (4 * h * h + 2 * h * f) + 2 * 2 * batch * seq * seq * h
  proj = 2 * tokens * e * h if e != h else 0
  return cfg.num_layers * per_layer + proj


def mlm_head_flops(cfg: EncoderConfig, n_positions: int, out_dim: int | None = None) -> float:
  """Transform (H -> E) and tied decoder (E -> V) at the positions actually computed."""
  e = out_dim or cfg.embed_dim
  return 2 * n_positions * (cfg.hidden_size * e + e * cfg.vocab_size)


def train_step_flops(family: str, cfg: EncoderConfig, batch: int, seq: int,
                     max_predictions: int, generator: EncoderConfig | None = None) -> float:
  """Forward + backward (3x forward) FLOPs the step needs."""
  p = batch * max_predictions
  fwd = encoder_forward_flops(cfg, batch, seq)
  if family == "electra":
    fwd += encoder_forward_flops(generator, batch, seq) + mlm_head_flops(generator, p, cfg.embed_dim)
    fwd += 2 * batch * seq * (cfg.hidden_size * cfg.hidden_size + cfg.hidden_size)
  else:
    fwd += mlm_head_flops(cfg, p)
    if family == "spanbert":
      fwd += 2 * p * ((2 * cfg.hidden_size + 200) * cfg.hidden_size
                      + cfg.hidden_size * cfg.embed_dim + cfg.embed_dim * cfg.vocab_size)
  return 3.0 * fwd


def measure_matmul_peak(n: int = 2048, dtype=jnp.float32, repeats: int = 7) -> float:
  """FLOP/s of a large square `jnp.dot` on the default device: the fastest of `repeats`.

  A peak is what the machine can do, so the best run counts: on a shared host a median was
  sometimes taken while another process held a core (102 GFLOP/s against 187-211 in the runs
  around it), which overstated MFU. The fastest run can only understate it."""
  a = jnp.ones((n, n), dtype)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    f(a).block_until_ready()
    times.append(time.perf_counter() - t)
  return 2 * n ** 3 / min(times)
