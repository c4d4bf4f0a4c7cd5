"""One fine-tuning run (one seed): train, evaluate periodically, keep the best evaluation.

The train step is `bertlab.training.step.build`'s (sharded, jit, dropout keys folded from
the seed and step); the optimizer is `training.optimizers.build` (AdamW, warmup then linear
decay, clipping) followed by layer-wise learning-rate decay when configured.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import math
import os
import time

import jax
import ml_collections
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from bertlab.finetune_init import merge_params
from bertlab.tasks import evaluation, length_buckets, packed_batches
from bertlab.tasks.finetune_data import (model_batch, row_lengths, sort_within_windows,
                                         train_order)
from bertlab.tasks.models import predict_fn
from bertlab.training import loop, lr_decay, optimizers
from bertlab.training import step as step_lib
from bertlab.training.metrics_writer import MetricsWriter


def build_optimizer(config, total_steps: int, num_layers: int):
  """(tx, schedule): the config's optimizer, warmup = warmup_proportion of the steps."""
  cfg = ml_collections.ConfigDict(config.optimizer.to_dict())
  cfg.warmup_steps = int(config.warmup_proportion * total_steps)
  tx, schedule = optimizers.build(cfg, total_steps)
  if config.layerwise_lr_decay < 1.0:
    tx = optax.chain(tx, lr_decay.scale_by_depth(num_layers, config.layerwise_lr_decay))
  return tx, schedule


def eval_steps(total_steps: int, steps_per_epoch: int, every: int) -> set[int]:
  """Steps after which to evaluate: every `every` steps (0: each epoch), and the last."""
  every = every or steps_per_epoch
  return set(range(every, total_steps + 1, every)) | {total_steps}


def eval_batches(split, batch_size: int, per_batch: bool) -> tuple[np.ndarray, np.ndarray]:
  """(index [S, batch_size], length [S]): the evaluation batches and their padded lengths.

  Longest first when padding per batch (batches of similar lengths, cut to lengths chosen by
  `length_buckets`); the last batch is filled with copies of its own last (shortest) row (an
  all-padding row would attend to nothing), dropped afterwards."""
  n = len(split)
  order = np.argsort(-row_lengths(split), kind="stable") if per_batch else np.arange(n)
  index = np.concatenate([order, np.full((-n) % batch_size, order[-1])]).reshape(-1, batch_size)
  return index, _padded_lengths(split, index, per_batch)


def _padded_lengths(split, index_SxB: np.ndarray, per_batch: bool) -> np.ndarray:
  """[S] each batch's padded length: one of a few data-chosen lengths, or max_seq_len."""
  full = split.inputs["input_ids"].shape[1]
  if not per_batch:
    return np.full(len(index_SxB), full)
  longest_S = row_lengths(split)[index_SxB].max(1)
  return length_buckets.assign(longest_S, length_buckets.choose_lengths(longest_S, full))


def packs(config, kind: str) -> bool:
  """Whether training packs several examples per row (`packed_batches`)."""
  return config.pack_rows and kind == "token_classification"


def train_shapes(train, order_SxB: np.ndarray, config, kind: str, data_par: int) -> list:
  """[S] (rows, length) of each training batch: packed rows of max_seq_len (their count
  chosen by `length_buckets`, a multiple of the data-parallel devices), or batch_size rows
  cut to a chosen length (or max_seq_len)."""
  full = train.inputs["input_ids"].shape[1]
  if packs(config, kind):
    need_S = packed_batches.rows_needed(row_lengths(train)[order_SxB], full)
    # A packed step costs a third of a padded one, a compile the same: priced as 30 steps.
    rows = length_buckets.choose_lengths(need_S, config.batch_size, multiple=data_par,
                                         compile_steps=30)
    return [(int(r), full) for r in length_buckets.assign(need_S, rows)]
  return [(config.batch_size, int(n))
          for n in _padded_lengths(train, order_SxB, config.pad_per_batch)]


def train_batch(train, index_B: np.ndarray, shape: tuple[int, int], config, kind: str) -> dict:
  """The model batch of examples `index_B` at `shape` (see `train_shapes`)."""
  if packs(config, kind):
    inputs = {k: train.inputs[k] for k in ("input_ids", "attention_mask", "token_type_ids",
                                           "labels")}
    return packed_batches.packed_batch(inputs, index_B, shape[1], shape[0])
  return model_batch(train, index_B, kind, length=shape[1])


def eval_calls(split, config, kind: str, data_par: int = 1) -> list[tuple]:
  """The predict calls that evaluate `split`: [(length, inputs, index_B, to_rows)]; to_rows
  maps the call's logits to those of split rows index_B at the split's full length L.

  Per-token tasks with `pack_rows` pack the whole split into rows of L (`eval_plan`: calls of
  at most eval_batch_size rows, a multiple of the data_par devices; ~3x fewer computed tokens
  on CoNLL-2003 than sorted batches cut to a bucketed length); the others run `eval_batches`.
  A run packs all its calls or none, so `length` keys one compiled predict step either way."""
  full = split.inputs["input_ids"].shape[1]
  keys = ("input_ids", "attention_mask", "token_type_ids")
  if packs(config, kind):
    lengths_N = row_lengths(split)
    inputs = {k: split.inputs[k] for k in keys}
    rows, plan = packed_batches.eval_plan(lengths_N, full, config.eval_batch_size, data_par)
    return [(full, packed_batches.place(inputs, index_B, row_B, offset_B, full, rows), index_B,
             functools.partial(packed_batches.unpack_logits, lengths_B=lengths_N[index_B],
                               row_B=row_B, offset_B=offset_B, width=full))
            for index_B, row_B, offset_B in plan]
  calls = []
  for index_B, length in zip(*eval_batches(split, config.eval_batch_size,
                                           config.pad_per_batch)):
    batch = model_batch(split, index_B, kind, length=int(length))
    calls.append((int(length), {k: batch[k] for k in keys}, index_B,
                  functools.partial(_to_full_width, width=full)))
  return calls


def _to_full_width(logits, width: int):
  """Per-token logits cut to a batch's length, padded back to `width` with -1e4 (padding,
  never chosen); other logits unchanged."""
  if logits.ndim == 3 and logits.shape[1] < width:
    return np.pad(logits, [(0, 0), (0, width - logits.shape[1]), (0, 0)],
                  constant_values=-1e4)
  return logits


def _predict_all(predict, params, split, calls, sharding):
  """Logits of every row of `split`, in its order: [N, ...], per-token ones [N, L, ...] at the
  split's full length L. predict: {length: compiled step}; calls: `eval_calls`'s. A row
  predicted twice (the copies filling a last batch) gets the same logits both times."""
  result = None
  for length, inputs, index_B, to_rows in calls:
    logits = to_rows(np.asarray(jax.device_get(predict[length](params,
                                                               loop.place(inputs, sharding)))))
    if result is None:
      result = np.empty((len(split),) + logits.shape[1:], logits.dtype)
    result[index_B] = logits[:len(index_B)]
  return result


def _compile(lowered: dict) -> dict:
  """{key: lowered computation} -> {key: compiled}, compiled side by side (XLA releases the
  GIL while compiling; one thread per core)."""
  with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
    futures = {k: pool.submit(v.compile) for k, v in lowered.items()}
    return {k: f.result() for k, f in futures.items()}


def _score(metrics: dict, key: str) -> float:
  v = metrics[key]
  return -math.inf if v is None or not math.isfinite(v) else v


def train_seed(model, pretrained, info, train, dev, config, total_steps: int, seed: int, mesh,
               outdir: str, echo=print, compiled: dict | None = None) -> dict:
  """Trains and evaluates one seed; writes outdir/{metrics.jsonl, eval_results.json,
  predictions.*, checkpoint/, timing.json}. Returns {'seed', 'metrics', 'best_step',
  'predictions', 'timing'}; timing: seconds compiling (compile_s), training (train_s) and
  evaluating (eval_s), the compiled lengths, and padded vs real training tokens.

  compiled: a dict shared by the seeds of one run. The train and predict steps do not depend
  on the seed (it only enters the initial state: head init and RNG), so the first seed's
  compiled steps serve the others, which then compile only their init.
  """
  compiled = {} if compiled is None else compiled
  os.makedirs(outdir, exist_ok=True)
  data_par = mesh.shape["data"] * mesh.shape["fsdp"]
  for key in ("batch_size", "eval_batch_size"):
    if config[key] % data_par:
      raise ValueError(f"config.{key}: expected a multiple of the {data_par} data-parallel "
                       f"devices; found {config[key]}.")
  tx, schedule = build_optimizer(config, total_steps, model.config.num_layers)
  example = train_batch(train, np.zeros(config.batch_size, np.int64),
                        (config.batch_size, train.inputs["input_ids"].shape[1]), config,
                        info.kind)
  steps = step_lib.build(model, tx, schedule, mesh, example, seed=seed)
  state = steps.init()
  params, fresh = merge_params(state.params,
                               None if pretrained is None else
                               {k: v for k, v in pretrained.items() if v is not None})
  if pretrained is not None:
    echo(f"seed {seed}: initialised fresh: {', '.join(fresh) or 'nothing'}")
  state = state.replace(params=jax.device_put(params, steps.state_shardings.params))
  if not compiled:
    compiled.update(train={}, predict={}, predict_fn=jax.jit(
        predict_fn(model), in_shardings=(steps.state_shardings.params, steps.batch_sharding),
        out_shardings=NamedSharding(mesh, PartitionSpec())))

  order = sort_within_windows(train_order(len(train), config.batch_size, total_steps, seed),
                              row_lengths(train), config.length_sort_window, seed)
  shape_S = train_shapes(train, order, config, info.kind, data_par)
  dev_calls = eval_calls(dev, config, info.kind, data_par)
  # Every shape this seed needs, compiled before the first step (side by side) rather than
  # one by one as the loop meets them; the seeds of a run share them.
  t0 = time.perf_counter()
  lowered = {}
  for shape in sorted(set(shape_S) - set(compiled["train"])):
    batch = loop.place(train_batch(train, order[shape_S.index(shape)], shape, config,
                                   info.kind), steps.batch_sharding)
    lowered["train", shape] = steps.train.lower(state, batch)
  for length, inputs, _, _ in dev_calls:
    if length not in compiled["predict"] and ("predict", length) not in lowered:
      lowered["predict", length] = compiled["predict_fn"].lower(
          state.params, loop.place(inputs, steps.batch_sharding))
  for (kind, length), exe in _compile(lowered).items():
    compiled[kind][length] = exe
  timing = dict(compile_s=time.perf_counter() - t0, train_s=0.0, eval_s=0.0,
                train_shapes=[list(x) for x in sorted(set(shape_S))],
                eval_lengths=sorted({c[0] for c in dev_calls}),
                eval_tokens=int(sum(c[1]["input_ids"].size for c in dev_calls)),
                train_tokens=int(sum(r * n for r, n in shape_S)),
                real_train_tokens=int(row_lengths(train)[order].sum()))
  echo(f"seed {seed}: compiled train shapes {timing['train_shapes']}, eval lengths "
       f"{timing['eval_lengths']} in {timing['compile_s']:.1f} s")
  train_step, predict = compiled["train"], compiled["predict"]

  steps_per_epoch = math.ceil(len(train) / config.batch_size)
  evals = eval_steps(total_steps, steps_per_epoch, config.eval_every_steps)
  writer = MetricsWriter(outdir)
  main = info.metrics[0]
  best = None
  try:
    t0 = time.perf_counter()
    for i in range(total_steps):
      batch = loop.place(train_batch(train, order[i], shape_S[i], config, info.kind),
                         steps.batch_sharding)
      state, metrics = train_step[shape_S[i]](state, batch)
      step = i + 1
      if step % config.log_every_steps == 0 or step == total_steps:
        m = {k: float(v) for k, v in jax.device_get(metrics).items()}
        if not math.isfinite(m["loss"]):
          raise FloatingPointError(
              f"seed {seed} step {step}: the loss is {m['loss']}; lower "
              "optimizer.learning_rate or use dtype='float32'.")
        writer.write(step, m)
        echo(f"seed {seed} step {step}/{total_steps}: "
             + ", ".join(f"{k} {v:.4g}" for k, v in m.items()))
      if step in evals:
        jax.block_until_ready(state)
        t1 = time.perf_counter()
        timing["train_s"] += t1 - t0
        logits = _predict_all(predict, state.params, dev, dev_calls, steps.batch_sharding)
        scores, predictions = evaluation.evaluate(info, dev, logits, config)
        writer.write(step, scores, "eval_")
        echo(f"seed {seed} step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
        if best is None or not config.select_best or _score(scores, main) > best["score"]:
          best = dict(step=step, score=_score(scores, main), metrics=scores,
                      predictions=predictions,
                      params=jax.device_get(state.params) if config.save_checkpoint else None)
        t0 = time.perf_counter()
        timing["eval_s"] += t0 - t1
  finally:
    writer.close()

  with open(os.path.join(outdir, "eval_results.json"), "w") as f:
    json.dump({**best["metrics"], "best_step": best["step"]}, f, indent=2)
  with open(os.path.join(outdir, "timing.json"), "w") as f:
    json.dump(timing, f, indent=2)
  path = evaluation.write_predictions(os.path.join(outdir, "predictions"), info, dev,
                                      best["predictions"])
  if config.save_checkpoint:
    import orbax.checkpoint as ocp
    ocp.PyTreeCheckpointer().save(os.path.join(os.path.abspath(outdir), "checkpoint"),
                                  best["params"], force=True)
  return {"seed": seed, "metrics": best["metrics"], "best_step": best["step"],
          "predictions": path, "timing": timing}
