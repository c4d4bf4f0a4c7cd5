"""One fine-tuning run (one seed): train, evaluate periodically, keep the best evaluation.

The train step is `bertlab.training.step.build`'s (sharded, jit, dropout keys folded from
the seed and step); the optimizer is `training.optimizers.build` (AdamW, warmup then linear
decay, clipping) followed by layer-wise learning-rate decay when configured.
"""

from __future__ import annotations

import json
import math
import os

import jax
import ml_collections
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from bertlab.finetune_init import merge_params
from bertlab.tasks import evaluation
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


def _predict_all(predict, params, split, kind, batch_size, sharding, per_batch=False):
  """Logits of every row of `split`, in its order: [N, ...], per-token ones [N, L, ...] at the
  split's full length L (positions past a batch's cut hold -1e4: padding, never chosen)."""
  n = len(split)
  pad = (-n) % batch_size
  # Longest first when padding per batch (batches of similar lengths); the last batch is
  # filled with copies of its own last (shortest) row (an all-padding row would attend to
  # nothing), dropped afterwards.
  order = (np.argsort(-row_lengths(split), kind="stable") if per_batch else np.arange(n))
  index = np.concatenate([order, np.full(pad, order[-1])])
  full = split.inputs["input_ids"].shape[1]
  out = []
  for s in range(0, n + pad, batch_size):
    batch = model_batch(split, index[s:s + batch_size], kind, per_batch)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    logits = np.asarray(jax.device_get(predict(params, loop.place(inputs, sharding))))
    if logits.ndim == 3 and logits.shape[1] < full:
      logits = np.pad(logits, [(0, 0), (0, full - logits.shape[1]), (0, 0)],
                      constant_values=-1e4)
    out.append(logits)
  logits = np.concatenate(out)[:n]
  result = np.empty_like(logits)
  result[order] = logits
  return result


def _score(metrics: dict, key: str) -> float:
  v = metrics[key]
  return -math.inf if v is None or not math.isfinite(v) else v


def train_seed(model, pretrained, info, train, dev, config, total_steps: int, seed: int, mesh,
               outdir: str, echo=print, compiled: dict | None = None) -> dict:
  """Trains and evaluates one seed; writes outdir/{metrics.jsonl, eval_results.json,
  predictions.*, checkpoint/}. Returns {'seed', 'metrics', 'best_step', 'predictions'}.

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
  example = model_batch(train, np.zeros(config.batch_size, np.int64), info.kind)
  steps = step_lib.build(model, tx, schedule, mesh, example, seed=seed)
  state = steps.init()
  params, fresh = merge_params(state.params,
                               None if pretrained is None else
                               {k: v for k, v in pretrained.items() if v is not None})
  if pretrained is not None:
    echo(f"seed {seed}: initialised fresh: {', '.join(fresh) or 'nothing'}")
  state = state.replace(params=jax.device_put(params, steps.state_shardings.params))
  if not compiled:
    compiled["train"] = steps.train
    compiled["predict"] = jax.jit(predict_fn(model), in_shardings=(
        steps.state_shardings.params, steps.batch_sharding),
        out_shardings=NamedSharding(mesh, PartitionSpec()))
  train_step, predict = compiled["train"], compiled["predict"]

  order = sort_within_windows(train_order(len(train), config.batch_size, total_steps, seed),
                              row_lengths(train), config.length_sort_window, seed)
  steps_per_epoch = math.ceil(len(train) / config.batch_size)
  evals = eval_steps(total_steps, steps_per_epoch, config.eval_every_steps)
  writer = MetricsWriter(outdir)
  main = info.metrics[0]
  best = None
  try:
    for i in range(total_steps):
      batch = loop.place(model_batch(train, order[i], info.kind, config.pad_per_batch),
                         steps.batch_sharding)
      state, metrics = train_step(state, batch)
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
        logits = _predict_all(predict, state.params, dev, info.kind, config.eval_batch_size,
                              steps.batch_sharding, config.pad_per_batch)
        scores, predictions = evaluation.evaluate(info, dev, logits, config)
        writer.write(step, scores, "eval_")
        echo(f"seed {seed} step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
        if best is None or not config.select_best or _score(scores, main) > best["score"]:
          best = dict(step=step, score=_score(scores, main), metrics=scores,
                      predictions=predictions,
                      params=jax.device_get(state.params) if config.save_checkpoint else None)
  finally:
    writer.close()

  with open(os.path.join(outdir, "eval_results.json"), "w") as f:
    json.dump({**best["metrics"], "best_step": best["step"]}, f, indent=2)
  path = evaluation.write_predictions(os.path.join(outdir, "predictions"), info, dev,
                                      best["predictions"])
  if config.save_checkpoint:
    import orbax.checkpoint as ocp
    ocp.PyTreeCheckpointer().save(os.path.join(os.path.abspath(outdir), "checkpoint"),
                                  best["params"], force=True)
  return {"seed": seed, "metrics": best["metrics"], "best_step": best["step"],
          "predictions": path}
