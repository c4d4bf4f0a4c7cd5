"""The training loop: resume, step, log, evaluate, checkpoint; generic over model and data.

`train_iter` yields host-local batches (dicts of numpy arrays) and has JSON-serialisable
`get_state()` / `set_state()`; with the train state they make a run resumable exactly.
"""

from __future__ import annotations

import logging
import os
import signal
import time

import jax
import numpy as np

from bertlab.training import optimizers
from bertlab.training.checkpoint import Checkpointer
from bertlab.training.metrics_writer import MetricsWriter
from bertlab.training.prefetch import Prefetcher
from bertlab.training.step import CompiledSteps

log = logging.getLogger(__name__)


class BadStepsError(RuntimeError):
  pass


def place(batch: dict, sharding) -> dict:
  """Host-local numpy batch -> global jax arrays split over the mesh's data axes."""
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items()}


class _StopFlag:
  """SIGTERM (pre-emption, `kill`) asks the loop to save and exit at the next step boundary."""

  def __init__(self):
    self.requested = False
    self._previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    self.requested = True

  def restore(self):
    signal.signal(signal.SIGTERM, self._previous)


def run(*, steps: CompiledSteps, train_iter, eval_batches, config, workdir: str,
        flops_per_step: float = 0.0, peak_flops: float = 0.0, tokens_per_step: int = 0,
        echo=print, prefetch: int = 0):
  """Train until config.total_steps; return (final state, last logged metrics).

  `prefetch`: batches read and placed on the devices ahead of the step, in a thread.

  Ends with one line: the first and last logged loss and MLM accuracy."""
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), keep=config.keep_checkpoints)
  writer = MetricsWriter(workdir)
  restored = ckpt.restore_latest(steps.abstract_state, steps.state_shardings)
  if restored is not None:
    state, data_state, step = restored
    if "iterator" in data_state:
      try:
        train_iter.set_state(data_state["iterator"])
      except (KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"the checkpoint at step {step} in {ckpt.directory} holds a data position this "
            f"pipeline cannot take ({type(e).__name__}: {e}); was data.packing, the batch size "
            "or the data changed since it was written? Resume with the run's own config "
            "(WORKDIR/config.json) or start a new workdir; the checkpoint is left as it is") from e
    echo(f"resumed from step {step} in {ckpt.directory}")
  else:
    state, step = steps.init(), 0
  batches = Prefetcher(train_iter, lambda b: place(b, steps.batch_sharding), prefetch)
  stop = _StopFlag()
  progress = None
  if config.progress_bar and jax.process_index() == 0:
    from tqdm import tqdm
    progress = tqdm(total=config.total_steps, initial=step, unit="step", dynamic_ncols=True)
  guard_every = max(1, min(config.log_every_steps, config.optimizer.max_consecutive_bad_steps))
  first, last, t0, steps_since = {}, {}, time.perf_counter(), 0
  try:
    while step < config.total_steps:
      batch = next(batches)
      state, metrics = steps.train(state, batch)
      step += 1
      steps_since += 1
      if step % guard_every == 0 or step == config.total_steps:
        consecutive, total = (int(x) for x in optimizers.bad_step_counts(state.opt_state))
        if consecutive >= config.optimizer.max_consecutive_bad_steps:
          raise BadStepsError(
              f"{consecutive} consecutive steps had non-finite gradients (last at step {step}; "
              f"{total} skipped in all); lower the learning rate or use float32 compute. "
              f"The last good checkpoint is in {ckpt.directory}")
      if step % config.log_every_steps == 0 or step == config.total_steps:
        m = {k: float(v) for k, v in jax.device_get(metrics).items()}
        dt = time.perf_counter() - t0
        m["steps_per_s"] = steps_since / dt
        m["tokens_per_s"] = tokens_per_step * steps_since / dt
        if "nonpad_tokens" in m:  # estimated from the logged step's batch
          m["nonpad_tokens_per_s"] = m["nonpad_tokens"] * steps_since / dt
        if flops_per_step and peak_flops:
          m["mfu"] = flops_per_step * steps_since / dt / (peak_flops * jax.device_count())
        writer.write(step, m)
        first, last = first or m, m
        if progress is not None:
          progress.set_postfix(loss=f"{m['loss']:.3f}", tok_s=f"{m['tokens_per_s']:.0f}")
        t0, steps_since = time.perf_counter(), 0
      if eval_batches and (step % config.eval_every_steps == 0 or step == config.total_steps):
        ev = [jax.device_get(steps.eval(state.params, place(b, steps.batch_sharding)))
              for b in eval_batches]
        writer.write(step, {k: np.mean([float(e[k]) for e in ev]) for k in ev[0]}, "eval_")
        t0 = time.perf_counter()
      if progress is not None:
        progress.update(1)
      if step % config.checkpoint_every_steps == 0 or step == config.total_steps or stop.requested:
        ckpt.save(step, state, {"iterator": batches.get_state()},
                  force=stop.requested or step == config.total_steps)
      if stop.requested:
        echo(f"SIGTERM: saved step {step} to {ckpt.directory}; exiting")
        break
  finally:
    batches.close()
    stop.restore()
    ckpt.close()
    writer.close()
    if progress is not None:
      progress.close()
  if first and last and jax.process_index() == 0:
    acc = [k for k in last if k.endswith("mlm_accuracy")]
    echo(f"step {step}: loss {first['loss']:.3f} -> {last['loss']:.3f}"
         + "".join(f"; {k} {first[k]:.3f} -> {last[k]:.3f}" for k in acc)
         + f"; checkpoints in {ckpt.directory}; metrics in {writer.path}")
  return state, last
