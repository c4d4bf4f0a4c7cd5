"""Compression report for a fine-tuned model: one table of variants, and JSON beside it.

  python benchmarks/compress_cost.py --finetuned runs/sst2 \
      --variant distilled=runs/sst2_student/student --prune_fraction 0.5 --out runs/compression

Variants (rows):
  float32            the model finetune.py selected (WORKDIR/seed_S/checkpoint)
  NAME               each --variant NAME=DIR: a saved `compress.artifact` (a distill.py student)
  heads-pruned-P%    float32 with the least important P % of each layer's heads removed: Michel et
                     al.'s gradient importance on --importance_examples training examples; no
                     retraining
  int8-dequant       per-channel int8 Dense kernels and per-row int8 embeddings, dequantized
                     inside the jit'ed forward
  int8-matmul        the same params, int8 x int8 -> int32 matmuls with per-token activation
                     scales
Columns: parameters (stored values; int8 scales included), size on disk (the variant's
params.safetensors), memory (bytes of its params), latency per batch (median of --repeats
jit'ed calls on --batch dev rows of max_seq_len tokens, after warm-up; the variants take
turns so that background load falls on all alike), the task's first metric on the held-out
dev split, and each against float32. Every variant is saved under OUT/variants/NAME, so
sizes are of real files. The JSON also says whether XLA kept the int8 dots.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time

# The repository root instead of this script's folder: jax imports a module named
# `compression` (zstd support), which this file would otherwise shadow.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from bertlab.compress import artifact, head_importance, head_pruning, quantize  # noqa: E402
from bertlab.compress.finetuned import finetune_config, load_finetuned, task_data  # noqa: E402
from bertlab.compress.predict import batches, predict_fn, predict_split  # noqa: E402
from bertlab.tasks import evaluation  # noqa: E402
from bertlab.tasks.finetune_data import model_batch  # noqa: E402


def pruned_heads(spec, params, train, fraction, n_examples, batch_size):
  model = artifact.build_model(spec)
  loss_fn = lambda p, b: model.apply({"params": p}, b)[0]  # noqa: E731 (deterministic)
  rows = np.arange(min(n_examples, len(train)))
  data = [model_batch(train, rows[s:s + batch_size], spec.kind)
          for s in range(0, len(rows) - batch_size + 1, batch_size)]
  importance_GxN = head_importance.head_importance(loss_fn, params, data)
  keep_GxK = head_pruning.heads_to_keep(importance_GxN, fraction)
  cfg, encoder = head_pruning.prune_heads(spec.encoder, params["encoder"], keep_GxK)
  notes = {"importance": importance_GxN.round(6).tolist(), "kept_heads": keep_GxK.tolist(),
           "importance_examples": int(len(data) * batch_size)}
  return dataclasses.replace(spec, encoder=cfg, notes=notes), {**params, "encoder": encoder}


def latencies_ms(calls, inputs, repeats) -> list[list[float]]:
  """Per call, `repeats` timings of one batch. The calls take turns, round after round, so
  that a slow spell of the machine (other processes) falls on every variant alike."""
  for predict, params in calls:
    for _ in range(4):  # compile, then warm caches
      jax.block_until_ready(predict(params, inputs))
  times = [[] for _ in calls]
  for _ in range(repeats):
    for i, (predict, params) in enumerate(calls):
      t = time.perf_counter()
      jax.block_until_ready(predict(params, inputs))
      times[i].append(1e3 * (time.perf_counter() - t))
  return times


def int8_dot_in_hlo(predict, params, inputs) -> bool:
  """Whether the compiled program keeps integer dots (an s32 result): XLA converting the
  int8 operands to float would leave f32 dots instead."""
  text = predict.lower(params, inputs).compile().as_text()
  return any(" dot(" in line and "= s32[" in line for line in text.splitlines())


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--finetuned", required=True, help="a finetune.py workdir")
  ap.add_argument("--variant", action="append", default=[], metavar="NAME=DIR",
                  help="a saved compress.artifact to compare (e.g. a distill.py student/)")
  ap.add_argument("--prune_fraction", type=float, default=0.5)
  ap.add_argument("--importance_examples", type=int, default=1024)
  ap.add_argument("--batch", type=int, default=32)
  ap.add_argument("--repeats", type=int, default=50)
  ap.add_argument("--out", required=True, help="directory for variants/ and compression.json")
  args = ap.parse_args()

  spec, params = load_finetuned(args.finetuned)
  ft = finetune_config(args.finetuned)
  info, train, dev = task_data(ft, spec.tokenizer_dir)
  metric = info.metrics[0]
  variants = [("float32", spec, params, None)]
  for item in args.variant:
    name, _, path = item.partition("=")
    if not path:
      sys.exit(f"error: --variant: expected NAME=DIR; found {item!r}.")
    v_spec, v_params = artifact.load(path)
    if (v_spec.task, v_spec.tokenizer_dir) != (spec.task, spec.tokenizer_dir):
      sys.exit(f"error: --variant {name}: expected a {spec.task} model with the tokenizer "
               f"{spec.tokenizer_dir}; found {v_spec.task} with {v_spec.tokenizer_dir}.")
    variants.append((name, v_spec, v_params, None))
  p_spec, p_params = pruned_heads(spec, params, train, args.prune_fraction,
                                  args.importance_examples, args.batch)
  variants.append((f"heads-pruned-{int(round(100 * args.prune_fraction))}%", p_spec, p_params,
                   None))
  q_spec = dataclasses.replace(spec, quantized=True, notes={
      "weights": "int8 per output channel; embeddings int8 per row"})
  q_params = jax.device_get(quantize.quantize_params(params, embeddings=True))
  variants += [("int8-dequant", q_spec, q_params, "dequantize"),
               ("int8-matmul", q_spec, q_params, "int8")]

  inputs = jax.device_put(next(batches(dev, args.batch))[0])
  rows, calls = [], []
  for name, v_spec, v_params, mode in variants:
    disk = artifact.save(os.path.join(args.out, "variants", name), v_spec, v_params)
    device_params = jax.device_put(v_params)
    predict = predict_fn(artifact.build_model(v_spec), mode)
    scores, _ = evaluation.evaluate(info, dev, predict_split(predict, device_params, dev,
                                                             args.batch), ft)
    row = dict(variant=name, parameters=quantize.count(v_params), disk_bytes=disk,
               memory_bytes=quantize.nbytes(v_params), **{metric: scores[metric]},
               layers=v_spec.encoder.num_layers, hidden=v_spec.encoder.hidden_size,
               heads=v_spec.encoder.num_heads, int8_mode=mode, notes=v_spec.notes)
    if mode == "int8":
      row["int8_dot_in_hlo"] = int8_dot_in_hlo(predict, device_params, inputs)
    rows.append(row)
    calls.append((predict, device_params))
    print(f"  {name}: {metric} {scores[metric]:.4f}", flush=True)
  for row, times in zip(rows, latencies_ms(calls, inputs, args.repeats)):
    row["latency_ms"], row["latency_min_ms"] = statistics.median(times), min(times)

  base = rows[0]
  for r in rows:
    r["size_ratio"] = r["disk_bytes"] / base["disk_bytes"]
    r["speedup"] = base["latency_ms"] / r["latency_ms"]
    r[f"delta_{metric}"] = r[metric] - base[metric]
  seq = dev.inputs["input_ids"].shape[1]
  print(f"\n{spec.task}: {len(dev)} dev examples, batch {args.batch} x {seq} tokens, "
        f"{jax.devices()[0].platform} ({jax.device_count()} device), median of {args.repeats}\n")
  head = (f"{'variant':<18}{'L/H/A':>10}{'params':>10}{'disk MB':>9}{'mem MB':>8}"
          f"{'ms/batch':>10}{metric:>10}{'size':>7}{'speed':>7}{'Δ ' + metric:>12}")
  print(head + "\n" + "-" * len(head))
  for r in rows:
    shape = f"{r['layers']}/{r['hidden']}/{r['heads']}"
    print(f"{r['variant']:<18}{shape:>10}{r['parameters'] / 1e6:>9.3f}M"
          f"{r['disk_bytes'] / 2**20:>9.3f}{r['memory_bytes'] / 2**20:>8.3f}"
          f"{r['latency_ms']:>10.2f}{r[metric]:>10.4f}{r['size_ratio']:>6.2f}x"
          f"{r['speedup']:>6.2f}x{r[f'delta_{metric}']:>+12.4f}")
  out = os.path.join(args.out, "compression.json")
  with open(out, "w") as f:
    json.dump({"finetuned": os.path.abspath(args.finetuned), "task": spec.task,
               "metric": metric, "dev_examples": len(dev), "batch": args.batch,
               "seq_len": int(dev.inputs["input_ids"].shape[1]), "repeats": args.repeats,
               "platform": jax.devices()[0].platform, "rows": rows}, f, indent=2)
  print(f"\n-> {out}")


if __name__ == "__main__":
  main()
