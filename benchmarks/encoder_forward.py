"""Encoder forward pass: jit compile time and step time of a preset (scanned layers).

  python benchmarks/encoder_forward.py --preset bert-base --batch 8 --seq 128 --json out.json

Also compiles the same preset at twice the depth, to show that compile time does not grow
with the number of layers under `nn.scan`.
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

from bertlab.encoder import Encoder, presets  # noqa: E402


def measure(cfg, batch, seq, repeats):
  model = Encoder(cfg)
  ids = jax.random.randint(jax.random.key(0), (batch, seq), 5, cfg.vocab_size)
  mask = jnp.ones_like(ids)
  params = jax.jit(lambda: model.init(jax.random.key(1), ids))()
  fwd = jax.jit(lambda p, x, m: model.apply(p, x, m)[0])
  t = time.perf_counter()
  compiled = fwd.lower(params, ids, mask).compile()
  compile_s = time.perf_counter() - t
  compiled(params, ids, mask).block_until_ready()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    compiled(params, ids, mask).block_until_ready()
    times.append(time.perf_counter() - t)
  return compile_s, statistics.median(times)


def main(argv=None):
  ap = argparse.ArgumentParser()
  ap.add_argument("--preset", default="bert-base")
  ap.add_argument("--batch", type=int, default=8)
  ap.add_argument("--seq", type=int, default=128)
  ap.add_argument("--dtype", default="float32")
  ap.add_argument("--repeats", type=int, default=5)
  ap.add_argument("--json", default=None)
  args = ap.parse_args(argv)
  cfg = presets.get(args.preset, dtype=args.dtype)
  rows = {}
  for layers in (cfg.num_layers, 2 * cfg.num_layers):
    c = cfg.replace(num_layers=layers)
    compile_s, fwd_s = measure(c, args.batch, args.seq, args.repeats)
    rows[layers] = {"compile_s": compile_s, "forward_ms": 1e3 * fwd_s,
                    "tokens_per_s": args.batch * args.seq / fwd_s}
  print(f"{args.preset} ({args.dtype}) batch {args.batch} seq {args.seq}, median of "
        f"{args.repeats}")
  print(f"{'layers':>7}{'compile s':>11}{'forward ms':>12}{'tokens/s':>10}")
  for layers, r in rows.items():
    print(f"{layers:>7}{r['compile_s']:>11.2f}{r['forward_ms']:>12.1f}{r['tokens_per_s']:>10.0f}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"preset": args.preset, "batch": args.batch, "seq": args.seq, "layers": rows}, f,
                indent=2)


if __name__ == "__main__":
  main()
