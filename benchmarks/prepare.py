"""Sharded corpus preparation: N processes on localhost against one, same corpus, same output.

  python benchmarks/prepare.py --source /work/shared/data/pretrain/gutenberg --copies 16 \
      --procs 4 --repeats 3 --json prepare.json

Builds a corpus of `copies` copies of every file of `source` (symbolic links in a temporary
folder), trains the tokenizer once ahead on one copy (`--tokenizer_only`, timed apart), then per
repeat runs
`python -m bertlab.data.prepare` once as a single shard and once as `procs` concurrent shards
(`--shard i/N`), each into a fresh folder. Reports medians of:
  wall          launch to last process done
  critical CPU  the busiest process's CPU seconds (user + system): the wall time on hosts that
                each have their own cores, as on a pod
and checks that the N-shard union gives the same manifest fingerprint and the same first
training batches (grain pipeline, batch 64) as the single shard. The example index's bytes per
corpus token are read from the manifest. Prints a table and writes JSON (--json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _corpus(source: str, copies: int, into: str) -> int:
  files = sorted(f for f in os.listdir(source) if f.endswith(".txt"))
  for c in range(copies):
    d = os.path.join(into, f"copy-{c:03d}")
    os.makedirs(d)
    for f in files:
      os.symlink(os.path.join(source, f), os.path.join(d, f))
  return copies * len(files)


def _launch(args: list[str]) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, "-m", "bertlab.data.prepare", *args],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=dict(os.environ, PYTHONPATH=ROOT))


def _wait(procs) -> list[float]:
  """CPU seconds (user + system) of each process, once all have ended."""
  cpu = []
  for p in procs:
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    out = p.stdout.read().decode(errors="replace")
    if p.returncode:
      raise SystemExit(f"prepare failed ({p.returncode}):\n{out[-3000:]}")
    cpu.append(usage.ru_utime + usage.ru_stime)
  return cpu


def _run(common: list[str], out: str, n: int) -> tuple[float, list[float]]:
  start = time.perf_counter()
  procs = [_launch(common + [f"--out={out}", f"--shard={i}/{n}"]) for i in range(n)]
  cpu = _wait(procs)
  return time.perf_counter() - start, cpu


def _batches(path: str, count: int) -> list[dict]:
  from bertlab.data import pipeline, prepared

  p = prepared.open_prepared(path)
  it = iter(pipeline.make_dataset(p.examples, global_batch_size=64, seed=0, process_index=0,
                                  process_count=1))
  return [next(it) for _ in range(count)]


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--source", required=True, help="folder of .txt files (e.g. gutenberg)")
  ap.add_argument("--copies", type=int, default=16)
  ap.add_argument("--procs", type=int, default=4)
  ap.add_argument("--repeats", type=int, default=3)
  ap.add_argument("--config", default=os.path.join(ROOT, "configs", "tiny", "bert.py"))
  ap.add_argument("--max-seq-len", type=int, default=128)
  ap.add_argument("--vocab-size", type=int, default=8192)
  ap.add_argument("--json", default=None)
  a = ap.parse_args(argv)
  with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
    n_files = _corpus(a.source, a.copies, os.path.join(tmp, "corpus"))
    common = [f"--config={a.config}", f"--config.data.corpus={tmp}/corpus/*/*.txt",
              f"--config.data.max_seq_len={a.max_seq_len}",
              f"--config.data.vocab_size={a.vocab_size}",
              f"--config.model.vocab_size={a.vocab_size}"]
    tok = os.path.join(tmp, "tok")
    start = time.perf_counter()
    # The copies are identical: one copy gives the same word frequencies (up to min_frequency).
    p = _launch(common + [f"--out={tok}", "--tokenizer_only",
                          f"--config.data.corpus={tmp}/corpus/copy-000/*.txt"])
    tok_cpu = _wait([p])[0]
    tok_wall = time.perf_counter() - start
    common.append(f"--config.data.tokenizer_dir={tok}/tokenizer")
    rows = []
    for r in range(a.repeats):
      one, many = os.path.join(tmp, f"one-{r}"), os.path.join(tmp, f"many-{r}")
      w1, c1 = _run(common, one, 1)
      wn, cn = _run(common, many, a.procs)
      rows.append(dict(wall_1=w1, cpu_1=c1[0], wall_n=wn, cpu_n=cn, wall_ratio=wn / w1,
                       critical_ratio=max(cn) / c1[0]))
      print(f"repeat {r}: 1 process {w1:.1f}s wall ({c1[0]:.1f}s CPU); {a.procs} processes "
            f"{wn:.1f}s wall (CPU per process {', '.join(f'{c:.1f}' for c in cn)}s)", flush=True)
    with open(os.path.join(one, "manifest.json")) as f:
      m1 = json.load(f)
    with open(os.path.join(many, "manifest.json")) as f:
      mn = json.load(f)
    b1, bn = _batches(one, 5), _batches(many, 5)
    same = m1["fingerprints"] == mn["fingerprints"] and all(
        np.array_equal(x[k], y[k]) for x, y in zip(b1, bn) for k in x)
  med = lambda k: statistics.median(r[k] for r in rows)
  result = dict(
      copies=a.copies, files=n_files, procs=a.procs, repeats=a.repeats,
      tokens=m1["num_tokens"], examples=m1["num_examples"], max_seq_len=a.max_seq_len,
      index_bytes_per_token=m1["index_bytes"] / m1["num_tokens"],
      tokenizer_once=dict(wall=tok_wall, cpu=tok_cpu),
      median_wall_1=med("wall_1"), median_wall_n=med("wall_n"), median_cpu_1=med("cpu_1"),
      median_wall_ratio=med("wall_ratio"), median_critical_cpu_ratio=med("critical_ratio"),
      identical_batches=bool(same), runs=rows, cpus=os.cpu_count())
  print(f"\n| corpus | processes | wall (median) | busiest process CPU | wall ratio | "
        f"critical CPU ratio | index B/token | same batches |")
  print("|---|---|---|---|---|---|---|---|")
  print(f"| {a.copies}x {os.path.basename(a.source.rstrip('/'))} ({result['tokens'] / 1e6:.1f}M "
        f"tokens, {n_files} files) | 1 | {result['median_wall_1']:.1f} s | "
        f"{result['median_cpu_1']:.1f} s | 1 | 1 | {result['index_bytes_per_token']:.3f} | - |")
  print(f"| | {a.procs} | {result['median_wall_n']:.1f} s | "
        f"{statistics.median(max(r['cpu_n']) for r in rows):.1f} s | "
        f"{result['median_wall_ratio']:.2f} | {result['median_critical_cpu_ratio']:.2f} | "
        f"{mn['index_bytes'] / mn['num_tokens']:.3f} | {same} |")
  print(f"tokenizer trained once ahead (one copy): {tok_wall:.1f} s wall, {tok_cpu:.1f} s CPU; "
        f"{os.cpu_count()} CPUs here")
  if a.json:
    with open(a.json, "w") as f:
      json.dump(result, f, indent=2)
  return 0 if same else 1


if __name__ == "__main__":
  sys.exit(main())
