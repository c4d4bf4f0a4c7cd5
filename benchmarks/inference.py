"""Notebook helpers' throughput (texts/s) side by side with the PyTorch tools a user would
otherwise call, on the same checkpoint and texts, in one process.

  python benchmarks/inference.py --texts ../shared/data/sst2/train.tsv --json runs/bench/inf.json

  embed      bertlab.load(d).embed(normalize=True)  vs  SentenceTransformer(d).encode(
             normalize_embeddings=True)
  classify   bertlab.load(d).classify               vs  pipeline("text-classification")
  fill_mask  bertlab.load(d).fill_mask(top_k=5)     vs  pipeline("fill-mask", top_k=5)

Checkpoint: --model-dir (a BERT directory; its heads must suit each helper), or by default
random-weight 6-layer H 384 BERT directories written here (a WordPiece vocabulary trained on
the texts, tokenizer.json with Fixed padding 128 stored, as hub sentence-embedding
directories have). Texts: the first --n sentences of a TSV (first column) or text file. Batch
32, float32, CPU; torch.set_num_threads = the machine's cores (what JAX's CPU client uses).
Each side runs once to warm up (compilation, allocation), then --repeats timed runs; the
median is reported, and the max abs difference of their outputs (embeddings; class
probabilities; top-5 probabilities).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout

import hub_model  # noqa: E402  (beside this script)
import numpy as np  # noqa: E402


def read_texts(path: str, n: int) -> list[str]:
  with open(path, encoding="utf-8") as f:
    lines = [x.rstrip("\n") for x in f]
  if path.endswith(".tsv"):
    lines = [x.split("\t")[0].strip() for x in lines[1:]]
  return [x for x in lines if x][:n]


def timed(fn, repeats: int) -> tuple[float, object]:
  out = fn()  # warm-up
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - t0)
  return statistics.median(times), out


def with_mask(texts: list[str]) -> list[str]:
  out = []
  for t in texts:
    words = t.split()
    words[len(words) // 2] = "[MASK]"
    out.append(" ".join(words))
  return out


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--texts", required=True, help="a TSV (first column) or a text file")
  p.add_argument("--n", type=int, default=512)
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--helpers", default="embed,classify,fill_mask")
  p.add_argument("--tiny", action="store_true", help="a 2-layer H 32 model (smoke test)")
  p.add_argument("--json", default="")
  args = p.parse_args(argv)

  import jax
  import torch
  import transformers as T

  import bertlab

  threads = os.cpu_count() or 1
  torch.set_num_threads(threads)
  texts = read_texts(args.texts, args.n)
  tmp = tempfile.mkdtemp(prefix="inf_bench_")
  rows = {}
  helpers = args.helpers.split(",")
  if "embed" in helpers:
    from sentence_transformers import SentenceTransformer

    d = hub_model.write_model(os.path.join(tmp, "embed"), texts, tiny=args.tiny)
    size = hub_model.TINY if args.tiny else hub_model.SIZE
    hub_model.write_sentence_transformers(d, size["hidden_size"])
    st = SentenceTransformer(d, device="cpu")
    m = bertlab.load(d, batch_size=args.batch)
    ref_s, ref = timed(lambda: st.encode(texts, batch_size=args.batch,
                                         normalize_embeddings=True), args.repeats)
    our_s, ours = timed(lambda: m.embed(texts, normalize=True), args.repeats)
    rows["embed"] = ("sentence-transformers encode", ref_s, our_s,
                     float(np.abs(ours - ref).max()))
  if "classify" in helpers:
    d = hub_model.write_model(os.path.join(tmp, "classify"), texts, "SequenceClassification", 1,
                        ["negative", "positive"], tiny=args.tiny)
    pipe = T.pipeline("text-classification", model=d, device="cpu", top_k=None)
    m = bertlab.load(d, batch_size=args.batch)
    ref_s, ref = timed(lambda: pipe(texts, batch_size=args.batch), args.repeats)
    our_s, ours = timed(lambda: m.classify(texts), args.repeats)
    ref_p = np.array([{r["label"]: r["score"] for r in x}["positive"] for x in ref])
    our_p = np.array([o["score"] if o["label"] == "positive" else 1 - o["score"] for o in ours])
    rows["classify"] = ('pipeline("text-classification")', ref_s, our_s,
                        float(np.abs(our_p - ref_p).max()))
  same = None
  if "fill_mask" in helpers:
    d = hub_model.write_model(os.path.join(tmp, "mlm"), texts, "MaskedLM", 2, tiny=args.tiny)
    masked = with_mask(texts)
    pipe = T.pipeline("fill-mask", model=d, device="cpu", top_k=5)
    m = bertlab.load(d, batch_size=args.batch)
    ref_s, ref = timed(lambda: pipe(masked, batch_size=args.batch), args.repeats)
    our_s, ours = timed(lambda: m.fill_mask(masked, top_k=5), args.repeats)
    diff = max(abs(a["score"] - b["score"]) for x, y in zip(ours, ref) for a, b in zip(x, y))
    same = np.mean([[a["id"] for a in x] == [b["token"] for b in y] for x, y in zip(ours, ref)])
    rows["fill_mask"] = ('pipeline("fill-mask")', ref_s, our_s, float(diff))
    print(f"fill_mask: identical top-5 ids on {same:.1%} of texts")

  n = len(texts)
  print(f"{n} texts (mean {np.mean([len(t.split()) for t in texts]):.1f} words), batch "
        f"{args.batch}, float32, 6-layer H384 BERT; JAX {jax.devices()[0].platform}, torch "
        f"{threads} threads; median of {args.repeats} runs after a warm-up")
  print(f"{'helper':10s} {'reference':32s} {'ref texts/s':>12s} {'ours texts/s':>13s} "
        f"{'speed-up':>9s} {'max diff':>10s}")
  out = {}
  for name, (ref_name, ref_s, our_s, diff) in rows.items():
    print(f"{name:10s} {ref_name:32s} {n / ref_s:12.1f} {n / our_s:13.1f} {ref_s / our_s:8.2f}x "
          f"{diff:10.2e}")
    out[name] = {"reference": ref_name, "reference_texts_per_s": n / ref_s,
                 "ours_texts_per_s": n / our_s, "speedup": ref_s / our_s, "max_abs_diff": diff}
  if args.json:
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
      json.dump({"rows": out, "texts": n, "same_top5_ids": float(same) if "fill_mask" in rows else None, "batch": args.batch, "torch_threads": threads,
                 "repeats": args.repeats}, f, indent=2)


if __name__ == "__main__":
  main()
