"""What each speed choice of the train step buys: one run, each choice undone on its own.

  python benchmarks/ablations.py --preset bert-mini --batch 32 --seq 128 \
      --corpus "../shared/data/pretrain/gutenberg/*.txt" --json runs/bench/ablations.json

Times our jit'ed BERT MLM + NSP step (median of --steps after --warmup) as configured for
training, then with one choice reverted at a time: the layers scanned and unrolled (the default
is unrolled on CPU and scanned elsewhere, so one of these two arms repeats the default), state
not donated, MLM logits at every position, attention dropout off (so the fused
`jax.nn.dot_product_attention` path runs), bfloat16 compute, remat of every layer, and packed
rows. The default arm runs first and again last, so drift of a noisy machine shows.

Packing does not make a step cheaper; it fills the rows. With --corpus, the fraction of real
tokens per row is measured on that text (the family's instances, unpacked and packed as
`train.py --config.data.packing=True` builds them) and "useful tokens/s" = tokens/s x fill.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout
import throughput  # noqa: E402  (beside this script)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bertlab.data.packing import PackingSpec  # noqa: E402
from bertlab.training import flops as flops_lib  # noqa: E402
from bertlab.training import host_memory  # noqa: E402

ARMS = [  # name, bench_ours keywords, what it undoes
    ("default", {}, "layers unrolled on CPU, donated state, MLM logits at masked positions, "
     "float32"),
    ("scanned layers", {"encoder": {"scan_layers": True}}, "nn.scan over layers"),
    ("unrolled layers", {"encoder": {"scan_layers": False}}, "no nn.scan over layers"),
    ("state not donated", {"donate": False}, "no donate_argnums"),
    ("MLM logits everywhere", {"all_positions": True}, "logits at all L positions"),
    ("no attention dropout", {"encoder": {"attention_dropout": 0.0}},
     "fused dot_product_attention path"),
    ("bfloat16 compute", {"dtype": "bfloat16"}, "bf16 activations, f32 params"),
    ("remat every layer", {"encoder": {"remat": True}}, "recompute activations in backward"),
    ("packed rows", {"packed": True}, "block-diagonal mask, ~3 examples per row"),
]


def packed_batch(cfg, batch, seq, max_pred, examples_per_row=3, seed=0):
  """A synthetic batch of packed rows: `examples_per_row` examples side by side in each row."""
  b = throughput.synthetic_batch(cfg, batch, seq, max_pred, seed)
  s = PackingSpec.default(seq, max_pred).max_examples
  examples_per_row = min(examples_per_row, s)
  starts = np.linspace(0, seq, examples_per_row + 1).astype(int)
  seg = np.zeros(seq, np.int32)
  pos = np.zeros(seq, np.int32)
  for i in range(examples_per_row):
    seg[starts[i]:starts[i + 1]] = i + 1
    pos[starts[i]:starts[i + 1]] = np.arange(starts[i + 1] - starts[i])
  b["segment_ids"] = np.tile(seg, (batch, 1))
  b["positions"] = np.tile(pos, (batch, 1))
  cls = np.zeros(s, np.int32)
  cls[:examples_per_row] = starts[:-1]
  b["cls_positions"] = np.tile(cls, (batch, 1))
  b["sentence_weights"] = np.tile((np.arange(s) < examples_per_row).astype(np.float32),
                                  (batch, 1))
  b["nsp_label"] = np.random.default_rng(seed).integers(0, 2, (batch, s)).astype(np.int32)
  return b


def measure_fill(corpus, family, seq, max_pred, batches=40):
  """Real-token fraction of the family's rows on `corpus`: (unpacked, packed)."""
  from bertlab.data.pipeline import build_pretraining_data, make_iterator
  from bertlab.objectives import masking

  with tempfile.TemporaryDirectory() as tmp:
    tok, inst = build_pretraining_data(
        family=family, corpus=corpus, tokenizer_dir=None, tokenizer_kind="wordpiece",
        vocab_size=8000, max_seq_len=seq, seed=0, cache_dir=tmp, progress=False)
    vocab = masking.MaskingVocab(vocab_size=tok.vocab_size, mask_id=tok.mask_id,
                                 pad_id=tok.pad_id, special_ids=tok.special_ids)
    fn = masking.as_transform(masking.mask_tokens, vocab=vocab, max_predictions=max_pred)
    fills = []
    for spec in (None, PackingSpec.default(seq, max_pred)):
      it = make_iterator(inst, global_batch_size=32, seed=0, process_index=0, process_count=1,
                         map_fn=fn, packing=spec)
      fills.append(float(np.mean([next(it)["attention_mask"].mean() for _ in range(batches)])))
  return fills[0], fills[1], int(len(inst["input_ids"]))


def run_arm(args, kw, max_pred):
  kw = dict(kw)
  all_positions = kw.pop("all_positions", False)
  packed = kw.pop("packed", False)
  dtype = kw.pop("dtype", "float32")
  p = args.seq if all_positions else max_pred
  if packed:
    p = PackingSpec.default(args.seq, max_pred).max_predictions
    kw["make_batch"] = lambda cfg, b, s, mp: packed_batch(cfg, b, s, mp)
  r = throughput.bench_ours(args.preset, args.batch, args.seq, dtype, args.steps, args.warmup,
                            p, **kw)
  r["max_predictions"] = p
  return r


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--preset", default="bert-mini")
  ap.add_argument("--batch", type=int, default=32)
  ap.add_argument("--seq", type=int, default=128)
  ap.add_argument("--steps", type=int, default=5)
  ap.add_argument("--warmup", type=int, default=2)
  ap.add_argument("--corpus", default=None, help="text files/globs (comma-separated) for the "
                  "padding measurement; without it, packing's fill is not measured")
  ap.add_argument("--arms", default=None, help="comma-separated subset of arm names")
  ap.add_argument("--json", default=None)
  args = ap.parse_args(argv)
  host_memory.retain_freed_memory()  # as the drivers do
  max_pred = max(1, round(0.15 * args.seq))
  peak = flops_lib.measure_matmul_peak(2048, jnp.float32)
  arms = [a for a in ARMS if args.arms is None or a[0] in args.arms.split(",")]
  results = []
  for name, kw, what in arms + ([ARMS[0]] if arms and arms[0][0] == "default" else []):
    r = run_arm(args, kw, max_pred)
    r.update(arm=name, undoes=what)
    results.append(r)
    print(f"{name:<24}{r['step_ms']:>10.1f} ms{r['compile_s']:>8.1f} s compile", flush=True)
  fill = None
  if args.corpus:
    fill = measure_fill(args.corpus.split(","), "bert", args.seq, max_pred)
  base = statistics.median([r["step_ms"] for r in results if r["arm"] == "default"])
  print(f"\n{args.preset} batch {args.batch} seq {args.seq}; matmul peak {peak / 1e9:.0f} GFLOP/s"
        + (f"; real-token fill on the corpus: unpacked {fill[0]:.3f}, packed {fill[1]:.3f}"
           if fill else ""))
  print(f"{'arm':<24}{'step ms':>9}{'vs default':>11}{'tokens/s':>10}{'useful tok/s':>13}"
        f"{'compile s':>10}{'memory MB':>10}")
  for r in results:
    r["vs_default"] = r["step_ms"] / base
    if fill:
      r["fill"] = fill[1] if r["arm"] == "packed rows" else fill[0]
      r["useful_tokens_per_s"] = r["tokens_per_s"] * r["fill"]
    mem = f"{r['peak_memory_bytes'] / 2**20:.0f}" if r.get("peak_memory_bytes") else "-"
    useful = f"{r['useful_tokens_per_s']:.0f}" if "useful_tokens_per_s" in r else "-"
    print(f"{r['arm']:<24}{r['step_ms']:>9.0f}{r['vs_default']:>10.2f}x{r['tokens_per_s']:>10.0f}"
          f"{useful:>13}{r['compile_s']:>10.1f}{mem:>10}")
  if args.json:
    throughput.write_json(args.json, {
        "preset": args.preset, "batch": args.batch, "seq": args.seq, "matmul_peak_flops": peak,
        "fill_unpacked_packed_instances": fill, "arms": results})
  return results


if __name__ == "__main__":
  main()
