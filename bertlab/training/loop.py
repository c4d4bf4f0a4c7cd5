"""The training loop: resume, step, log, evaluate, checkpoint; generic over model and data.

`train_iter` yields host-local batches (dicts of numpy arrays) and has JSON-serialisable
`get_state()` / `set_state()`; with the train state they make a run resumable exactly.
"""

from __future__ import annotations

import logging
import time

import jax
import numpy as np

from bertlab.storage import files
from bertlab.training import optimizers
from bertlab.training.batch_log import BatchLog
from bertlab.training.checkpoint import Checkpointer, check_config
from bertlab.training.metrics_writer import MetricsWriter
from bertlab.training.prefetch import Prefetcher
from bertlab.training.preemption import StopSignal
from bertlab.training.step import CompiledSteps

log = logging.getLogger(__name__)


class BadStepsError(RuntimeError):
  pass


def place(batch: dict, sharding) -> dict:
  """Host-local numpy batch -> global jax arrays split over the mesh's data axes."""
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items()}


def host_rows(sharding, global_batch: int) -> tuple[int, int]:
  """The rows [lo, hi) of a global batch that this process's devices hold under `sharding`.

  The input pipeline gives each process exactly these rows of the one global stream, so the
  global batch is the same for any process count or device order."""
  spans = set()
  for index in sharding.addressable_devices_indices_map((global_batch,)).values():
    sl = index[0]
    spans.add((sl.start or 0, global_batch if sl.stop is None else sl.stop))
  spans = sorted(spans)
  lo, hi = spans[0][0], spans[-1][1]
  if sum(b - a for a, b in spans) != hi - lo:
    raise ValueError(f"this process's devices hold rows {spans} of the batch, not one "
                     "contiguous range; order the mesh's devices by process (make_mesh)")
  return lo, hi


def _config_get(config, dotted: str, default):
  node = config
  for part in dotted.split("."):
    if part not in node:
      return default
    node = node[part]
  return node


class DataMismatchError(ValueError):
  """The checkpoint was trained on other data (tokenizer or prepared corpus)."""


def resume_data(train_iter, data_state: dict, config, step: int, echo) -> None:
  """Puts `train_iter` at the checkpoint's data position, or says why the stream restarts.

  Fingerprints (getattr(train_iter, "fingerprints", {})) that differ from the checkpoint's are
  an error unless config.data.allow_new_data, which restarts the stream at example 0. A saved
  position of another stream (max_seq_len, packing, seed or masking mode changed; a phase
  change) restarts the stream at example 0, said so."""
  allow = bool(_config_get(config, "data.allow_new_data", False))
  saved_fp = data_state.get("fingerprints") or {}
  now_fp = getattr(train_iter, "fingerprints", None) or {}
  differ = {k: (saved_fp[k], now_fp[k]) for k in sorted(saved_fp.keys() & now_fp.keys())
            if saved_fp[k] != now_fp[k]}
  if differ and not allow:
    raise DataMismatchError(
        f"the checkpoint at step {step} was trained on other data: " + "; ".join(
            f"{k} fingerprint {a} in the checkpoint, {b} now" for k, (a, b) in differ.items())
        + ". Resume with the same tokenizer and data, or pass "
        "--config.data.allow_new_data=True to continue from these weights on the new data "
        "(its stream starts at example 0)")
  if differ:
    echo(f"data changed since step {step} ({', '.join(differ)} fingerprint); "
         "data.allow_new_data: the new data stream starts at example 0")
    return
  position = data_state.get("iterator")
  if position is None:
    return
  key = getattr(train_iter, "stream_key", None)
  if key is not None:
    saved = position.get("stream") if isinstance(position, dict) else None
    now = key()
    if saved != now:
      if saved and saved.get("examples") != now.get("examples") and not allow and (
          saved.get("max_seq_len") == now.get("max_seq_len")):
        raise DataMismatchError(
            f"the checkpoint at step {step} was trained on {saved.get('examples')} examples, "
            f"the data now has {now.get('examples')}; resume with the same data, or pass "
            "--config.data.allow_new_data=True to start the new data at example 0")
      changed = sorted(k for k in now if not saved or saved.get(k) != now[k])
      echo(f"new data stream from step {step} ({', '.join(changed) or 'no saved stream'} "
           "changed): it starts at its example 0")
      log.info("data stream at step %d: saved %s, now %s", step, saved, now)
      return
  try:
    train_iter.set_state(position)
  except (KeyError, TypeError, ValueError) as e:
    raise ValueError(
        f"the checkpoint at step {step} holds a data position this pipeline cannot take "
        f"({type(e).__name__}: {e}); resume with the run's own config (WORKDIR/config.json) "
        "or start a new workdir; the checkpoint is left as it is") from e


def run(*, steps: CompiledSteps, train_iter, eval_batches, config, workdir: str,
        flops_per_step: float = 0.0, peak_flops: float = 0.0, tokens_per_step: int = 0,
        echo=print, prefetch: int = 0, state=None, until: int | None = None,
        log_key: str | None = None):
  """Train until `until` (default config.total_steps); return (final state, last metrics).

  `prefetch`: batches read and placed on the devices ahead of the step, in a thread.
  `state`: continue from this state (a later phase of the same run) instead of restoring
  from WORKDIR/checkpoints; `train_iter` then starts at its beginning. The run stopped early
  (SIGTERM) when the returned state's step is below `until`.
  `log_key`: a batch key the step does not read (the example ids of
  data.record_example_ids): kept on the host and written per step by `BatchLog`.

  Ends with one line: the first and last logged loss and MLM accuracy."""
  until = config.total_steps if until is None else until
  ckpt = Checkpointer(files.join(workdir, "checkpoints"), keep=config.keep_checkpoints)
  if state is None:
    if ckpt.latest_step() is not None:
      check_config(workdir, config, ckpt.directory)
    restored = ckpt.restore_latest(steps.abstract_state, steps.state_shardings)
    if restored is not None:
      state, data_state, step = restored
      resume_data(train_iter, data_state, config, step, echo)
      echo(f"resumed from step {step} in {ckpt.directory}")
    else:
      state, step = steps.init(), 0
    if jax.process_index() == 0 and hasattr(config, "to_json_best_effort"):
      # Only now: a config.json next to checkpoints always describes them.
      files.write_text(files.join(workdir, "config.json"), config.to_json_best_effort(indent=2))
  else:
    step = int(jax.device_get(state.step))
  writer = MetricsWriter(workdir, resume_step=step)
  fingerprints = dict(getattr(train_iter, "fingerprints", None) or {})
  if log_key is None:
    batches = Prefetcher(train_iter, lambda b: place(b, steps.batch_sharding), prefetch)
  else:
    rows = host_rows(steps.batch_sharding, config.batch_size)
    ids_log = BatchLog(workdir, jax.process_index(), jax.process_count(), rows, step)
    batches = Prefetcher(train_iter, lambda b: (
        place({k: v for k, v in b.items() if k != log_key}, steps.batch_sharding), b[log_key]),
        prefetch)
  stop = StopSignal()
  progress = None
  if config.progress_bar and jax.process_index() == 0:
    from tqdm import tqdm
    progress = tqdm(total=config.total_steps, initial=step, unit="step", dynamic_ncols=True)
  guard_every = max(1, min(config.log_every_steps, config.optimizer.max_consecutive_bad_steps))
  first, last, t0, steps_since = {}, {}, time.perf_counter(), 0
  try:
    while step < until:
      batch = next(batches)
      if log_key is not None:
        batch, ids = batch
        ids_log.write(step + 1, ids)
      state, metrics = steps.train(state, batch)
      step += 1
      steps_since += 1
      if step % guard_every == 0 or step == until:
        consecutive, total = (int(x) for x in optimizers.bad_step_counts(state.opt_state))
        if consecutive >= config.optimizer.max_consecutive_bad_steps:
          raise BadStepsError(
              f"{consecutive} consecutive steps had non-finite gradients (last at step {step}; "
              f"{total} skipped in all); lower the learning rate or use float32 compute. "
              f"The last good checkpoint is in {ckpt.directory}")
      if step % config.log_every_steps == 0 or step == until:
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
      if eval_batches and (step % config.eval_every_steps == 0 or step == until):
        ev = [jax.device_get(steps.eval(state.params, place(b, steps.batch_sharding)))
              for b in eval_batches]
        writer.write(step, {k: np.mean([float(e[k]) for e in ev]) for k in ev[0]}, "eval_")
        t0 = time.perf_counter()
      if progress is not None:
        progress.update(1)
      stopping = stop.should_stop(step)  # the same answer on every process
      if step % config.checkpoint_every_steps == 0 or step == until or stopping:
        ckpt.save(step, state, {"iterator": batches.get_state(), "fingerprints": fingerprints},
                  force=stopping or step == until)
      if stopping:
        echo(f"SIGTERM: saved step {step} to {ckpt.directory}; exiting")
        break
  finally:
    batches.close()
    if log_key is not None:
      ids_log.close()
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
