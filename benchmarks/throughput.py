"""Pretraining-step throughput and MFU, side by side with the Hugging Face PyTorch reference.

  python benchmarks/throughput.py --preset bert-mini --batch 32 --seq 128 --reference hf \
      --json runs/bench/bert_mini.json

Times our jit'ed train step (compile excluded; median of --steps after --warmup, each
`block_until_ready`), and reports tokens/s, step time, compile time, peak memory, model
FLOPs per step (counted from the architecture, and XLA's own count) and MFU against a
`jnp.dot` peak measured in the same run (the best of runs before and after ours).
`--reference hf` times BertForMaskedLM (or the family's *ForMaskedLM) with torch AdamW on the
same batch and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from bertlab.encoder import presets  # noqa: E402
from bertlab.encoder.stack import scans_layers  # noqa: E402
from bertlab.objectives.pretraining import zeros_like_batch  # noqa: E402
from bertlab.objectives.registry import build_model  # noqa: E402
from bertlab.training import flops as flops_lib  # noqa: E402
from bertlab.training import host_memory  # noqa: E402
from bertlab.training import mesh as mesh_lib  # noqa: E402
from bertlab.training import optimizers  # noqa: E402
from bertlab.training import step as step_lib  # noqa: E402
from bertlab.training.loop import place  # noqa: E402


def family_of(preset: str) -> str:
  return preset.split("-")[0]


def synthetic_batch(cfg, batch, seq, max_pred, seed=0):
  rng = np.random.default_rng(seed)
  b = {k: np.array(v) for k, v in zeros_like_batch(batch, seq, max_pred).items()}
  b["input_ids"] = rng.integers(5, cfg.vocab_size, (batch, seq)).astype(np.int32)
  if max_pred >= seq:  # logits at every position, as the reference implementations compute
    b["mlm_positions"] = np.tile(np.arange(max_pred, dtype=np.int32) % seq, (batch, 1))
  else:
    b["mlm_positions"] = np.stack([np.sort(rng.choice(np.arange(1, seq), max_pred, replace=False))
                                   for _ in range(batch)]).astype(np.int32)
  b["mlm_ids"] = rng.integers(5, cfg.vocab_size, (batch, max_pred)).astype(np.int32)
  b["mlm_weights"] = np.ones((batch, max_pred), np.float32)
  b["nsp_label"] = rng.integers(0, 2, batch).astype(np.int32)
  b["sop_label"] = b["nsp_label"]
  b["sbo_left"] = np.maximum(b["mlm_positions"] - 1, 0)
  b["sbo_right"] = np.minimum(b["mlm_positions"] + 1, seq - 1)
  b["sbo_weights"] = b["mlm_weights"]
  return b


def _minor_faults() -> int:
  try:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  except ImportError:  # not POSIX
    return 0


def bench_ours(preset, batch, seq, dtype, steps, warmup, max_pred, generator=None,
               family=None, generator_fraction=None, compile_only=False, encoder=None,
               donate=True, make_batch=None):
  """`encoder`: EncoderConfig overrides (e.g. remat=True, scan_layers=False); `donate`: donate
  the train state to the step (as training does); `make_batch(cfg, batch, seq, max_pred)`:
  the host batch (default `synthetic_batch`)."""
  family = family or family_of(preset)
  cfg = presets.get(preset, dtype=dtype, **(encoder or {}))
  if family in ("bert", "albert") and not cfg.use_pooler:
    cfg = cfg.replace(use_pooler=True)  # NSP/SOP read the pooled [CLS] state
  gen = None
  if family == "electra":
    if generator_fraction:  # ELECTRA Table 6: hidden, FFN and heads scaled by the fraction
      f = generator_fraction
      gen = cfg.replace(hidden_size=int(cfg.hidden_size * f), num_heads=max(1, int(
          cfg.num_heads * f)), intermediate_size=int(cfg.intermediate_size * f))
    else:
      gen = presets.get(generator or f"{preset}-generator", dtype=dtype, **(encoder or {}))
  model = build_model(family, cfg, gen)
  opt = ml_collections.ConfigDict(dict(
      name="adamw", learning_rate=1e-4, b1=0.9, b2=0.999, eps=1e-6, weight_decay=0.01,
      warmup_steps=10, schedule="linear", power=1.0, end_lr_ratio=0.0, clip_norm=1.0))
  tx, lr = optimizers.build(opt, 1000)
  mesh = mesh_lib.make_mesh((-1, 1, 1))
  host = (make_batch or synthetic_batch)(cfg, batch, seq, max_pred)
  built = step_lib.build(model, tx, lr, mesh, host, seed=0, donate=donate)
  compiled, compile_s, cost = step_lib.compile_ahead(built, host)
  if compile_only:
    return {"compile_s": compile_s, "xla_flops_per_step": float(cost.get("flops", 0.0)),
            "layers_scanned": scans_layers(cfg)}
  host_memory.reserve_for_step(compiled)  # as train.py does: no faulting first steps
  state = built.init()
  b = place(host, built.batch_sharding)
  times, faults = [], []
  for i in range(warmup + steps):
    f0, t = _minor_faults(), time.perf_counter()
    state, m = compiled(state, b)
    jax.block_until_ready((state, m))
    if i >= warmup:
      times.append(time.perf_counter() - t)
      faults.append(_minor_faults() - f0)  # a slow step that faulted grew the host heap
  step_s = statistics.median(times)
  model_flops = flops_lib.train_step_flops(family, cfg, batch, seq, max_pred, gen)
  mem = None
  try:
    ma = compiled.memory_analysis()
    mem = int(ma.temp_size_in_bytes + ma.argument_size_in_bytes + ma.output_size_in_bytes)
  except Exception:  # not every backend reports it
    pass
  return {
      "tokens_per_s": batch * seq / step_s, "step_ms": 1e3 * step_s, "compile_s": compile_s,
      "layers_scanned": scans_layers(cfg),
      "step_ms_all": [1e3 * t for t in times], "page_faults_all": faults,
      "model_flops_per_step": model_flops,
      "xla_flops_per_step": float(cost.get("flops", 0.0)), "peak_memory_bytes": mem,
      "loss": float(m["loss"]),
  }


def bench_reference(preset, batch, seq, steps, warmup):
  """HF PyTorch *ForMaskedLM of the same size + torch AdamW (logits at every position)."""
  import torch
  import transformers as tf

  torch.set_num_threads(os.cpu_count())
  torch.manual_seed(0)
  cfg = presets.get(preset)
  family = family_of(preset)
  common = dict(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size,
                num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
                intermediate_size=cfg.intermediate_size,
                max_position_embeddings=cfg.max_position_embeddings,
                type_vocab_size=cfg.type_vocab_size, hidden_act=cfg.hidden_act)
  if family in ("bert", "spanbert"):
    model = tf.BertForMaskedLM(tf.BertConfig(**common))
  elif family == "roberta":
    model = tf.RobertaForMaskedLM(tf.RobertaConfig(**common, pad_token_id=1))
  elif family == "albert":
    model = tf.AlbertForMaskedLM(tf.AlbertConfig(**common, embedding_size=cfg.embed_dim))
  else:
    model = tf.ElectraForMaskedLM(tf.ElectraConfig(**common, embedding_size=cfg.embed_dim))
  model.train()
  opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, eps=1e-6)
  ids = torch.randint(5, cfg.vocab_size, (batch, seq))
  labels = ids.clone()
  labels[torch.rand(batch, seq) > 0.15] = -100
  times = []
  for i in range(warmup + steps):
    t = time.perf_counter()
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels)
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    if i >= warmup:
      times.append(time.perf_counter() - t)
  step_s = statistics.median(times)
  return {"tokens_per_s": batch * seq / step_s, "step_ms": 1e3 * step_s, "compile_s": 0.0,
          "step_ms_all": [1e3 * t for t in times], "implementation": f"transformers "
          f"{tf.__version__} {type(model).__name__}, torch {torch.__version__}"}


def write_json(path: str, obj) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w") as f:
    json.dump(obj, f, indent=2)


def parse_override(kv: str):
  """'field=value' -> (field, value) with value as int, float, bool or str."""
  if "=" not in kv:
    raise SystemExit(f"--set expects FIELD=VALUE, got {kv!r}")
  k, v = kv.split("=", 1)
  if v.lower() in ("true", "false"):
    return k, v.lower() == "true"
  for cast in (int, float):
    try:
      return k, cast(v)
    except ValueError:
      pass
  return k, v


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--preset", required=True, help="published name, e.g. bert-mini, electra-small")
  ap.add_argument("--batch", type=int, default=32)
  ap.add_argument("--seq", type=int, default=128)
  ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
  ap.add_argument("--steps", type=int, default=7)
  ap.add_argument("--warmup", type=int, default=2)
  ap.add_argument("--max-predictions", type=int, default=None,
                  help="MLM positions per sequence (default: 15 %% of seq, as BERT)")
  ap.add_argument("--generator", default=None, help="ELECTRA generator preset")
  ap.add_argument("--generator-fraction", type=float, default=None,
                  help="ELECTRA generator as this fraction of the discriminator (paper: 0.25)")
  ap.add_argument("--family", default=None,
                  help="objectives to train (default: the preset's family), e.g. bert on "
                       "electra-small's encoder for a same-size comparison")
  ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                  help="EncoderConfig override, repeatable: --set remat=true "
                       "--set attention_dropout=0 --set attention_impl=cudnn")
  ap.add_argument("--reference", choices=["hf"], default=None)
  ap.add_argument("--peak-size", type=int, default=2048)
  ap.add_argument("--compile-only", action="store_true",
                  help="only lower and compile the train step; report its compile time")
  ap.add_argument("--json", default=None)
  args = ap.parse_args(argv)
  host_memory.retain_freed_memory()  # as the drivers do; the reference shares this process
  max_pred = args.max_predictions or max(1, round(0.15 * args.seq))
  encoder = dict(parse_override(kv) for kv in args.set)
  if args.compile_only:
    r = bench_ours(args.preset, args.batch, args.seq, args.dtype, 0, 0, max_pred, args.generator,
                   args.family, args.generator_fraction, compile_only=True, encoder=encoder)
    print(f"{args.preset} batch {args.batch} seq {args.seq} {args.dtype}: train step compiled "
          f"in {r['compile_s']:.1f} s (layers {'scanned' if r['layers_scanned'] else 'unrolled'})")
    if args.json:
      with open(args.json, "w") as f:
        json.dump({"preset": args.preset, **r}, f, indent=2)
    return r
  dt = jnp.bfloat16 if args.dtype == "bfloat16" else jnp.float32
  peak = flops_lib.measure_matmul_peak(args.peak_size, dt)
  ours = bench_ours(args.preset, args.batch, args.seq, args.dtype, args.steps, args.warmup,
                    max_pred, args.generator, args.family, args.generator_fraction,
                    encoder=encoder)
  # Measured again after our steps; the higher of the two is the machine's peak.
  peak = max(peak, flops_lib.measure_matmul_peak(args.peak_size, dt))
  ours["mfu"] = ours["model_flops_per_step"] / (ours["step_ms"] / 1e3) / (
      peak * jax.device_count())
  result = {"preset": args.preset, "family": args.family or family_of(args.preset),
            "batch": args.batch, "seq": args.seq, "dtype": args.dtype,
            "max_predictions": max_pred, "encoder_overrides": encoder, "device": str(jax.devices()[0].device_kind),
            "n_devices": jax.device_count(), "matmul_peak_flops": peak, **ours}
  rows = [("bertlab", ours)]
  if args.reference:
    ref = bench_reference(args.preset, args.batch, args.seq, args.steps, args.warmup)
    ref["ratio"] = ours["tokens_per_s"] / ref["tokens_per_s"]
    result["reference"] = ref
    rows.append(("reference", ref))
  print(f"{args.preset} batch {args.batch} seq {args.seq} {args.dtype}; matmul peak "
        f"{peak / 1e9:.1f} GFLOP/s; model FLOPs/step {ours['model_flops_per_step'] / 1e9:.1f} G "
        f"(XLA counts {ours['xla_flops_per_step'] / 1e9:.1f} G); layers "
        f"{'scanned' if ours['layers_scanned'] else 'unrolled'}")
  print(f"{'impl':<11}{'tokens/s':>11}{'step ms':>10}{'compile s':>11}{'MFU':>8}{'ratio':>8}")
  for name, r in rows:
    mfu = f"{100 * r['mfu']:.1f}%" if "mfu" in r else "-"
    ratio = f"{r['ratio']:.2f}x" if "ratio" in r else "-"
    print(f"{name:<11}{r['tokens_per_s']:>11.0f}{r['step_ms']:>10.1f}{r['compile_s']:>11.1f}"
          f"{mfu:>8}{ratio:>8}")
  if args.json:
    write_json(args.json, result)
  return result


if __name__ == "__main__":
  main()
