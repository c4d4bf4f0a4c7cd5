"""Data-layer throughput: tokenizer training, cache build, instance build, pipeline sequences/s.

  python benchmarks/data_throughput.py /work/shared/data/pretrain/wikitext-2/valid.txt \
      --kind wordpiece --family bert --seq-len 128 --split-sentences

Cache and instance building use all cores (the Rust tokenizer's thread pool); the pipeline is
then measured on one core (the process pinned to a single CPU, reading in the calling
thread), with and without a per-example numpy transform standing in for dynamic masking, and
with the family's masking in 0, 1, 2, ... worker processes (--workers, all cores).
Prints a table and writes JSON (--json). Each run uses a fresh cache directory unless --cache-dir
is given (then a second run shows the cached figures).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout

from bertlab.data import cache as cache_lib
from bertlab.data import instances, pipeline
from bertlab.data.corpus_spec import open_corpus
from bertlab.data.tokenizer_training import train_tokenizer
from bertlab.objectives import masking
from bertlab.objectives.registry import DEFAULT_MASKING


def _mask_like(example, rng):
  """BERT-style 15 % masking in numpy: the cost a dynamic-masking map_fn adds per example."""
  ids = example["input_ids"].copy()
  candidates = np.flatnonzero(~example["special_mask"])
  n = max(1, int(round(0.15 * len(candidates))))
  pos = rng.choice(candidates, size=min(n, len(candidates)), replace=False)
  labels = np.full_like(ids, -1)
  labels[pos] = ids[pos]
  ids[pos] = 4
  return dict(example, input_ids=ids, mlm_labels=labels)


def _pipeline_rate(arrays, batch, seconds, map_fn, num_workers=0) -> float:
  it = pipeline.make_iterator(arrays, global_batch_size=batch, seed=0, process_index=0,
                              process_count=1, map_fn=map_fn, num_workers=num_workers)
  for _ in range(1 + 2 * num_workers):  # warm up: workers started, their queue filled
    next(it)
  n, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    n += len(next(it)["input_ids"])
  rate = n / (time.perf_counter() - start)
  it.close()
  return rate


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("files", nargs="*", help="text files (none: the built-in pydoc corpus)")
  p.add_argument("--kind", default="wordpiece", choices=("wordpiece", "sentencepiece", "bpe"))
  p.add_argument("--family", default="bert", choices=instances.FAMILIES)
  p.add_argument("--seq-len", type=int, default=128)
  p.add_argument("--vocab-size", type=int, default=8000)
  p.add_argument("--batch-size", type=int, default=32)
  p.add_argument("--seconds", type=float, default=5.0, help="per pipeline measurement")
  p.add_argument("--doc-per-line", action="store_true")
  p.add_argument("--split-sentences", action="store_true")
  p.add_argument("--cache-dir", default=None)
  p.add_argument("--workers", default="0",
                 help="comma-separated worker-process counts for the family-masking pipeline "
                      "rate (0 = in the calling thread), e.g. 0,1,2")
  p.add_argument("--repeats", type=int, default=1, help="runs per worker count (median)")
  p.add_argument("--json", default=None, help="write the figures here")
  args = p.parse_args()

  cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="bertlab-bench-")
  opts = dict(doc_per_line=args.doc_per_line)
  if args.split_sentences:
    opts["split_sentences"] = True
  corpus = open_corpus(args.files or None, **opts)
  r = dict(files=args.files or ["pydoc_data.topics"], kind=args.kind, family=args.family,
           seq_len=args.seq_len, batch_size=args.batch_size, cpus=os.cpu_count())

  t = time.perf_counter()
  tok = train_tokenizer(args.kind, corpus, vocab_size=args.vocab_size)
  r["tokenizer_train_s"] = time.perf_counter() - t
  r["vocab_size"] = tok.vocab_size

  t = time.perf_counter()
  tokens = cache_lib.build_cache(corpus, tok, cache_dir, progress=False)
  r["cache_build_s"] = time.perf_counter() - t
  r.update(documents=tokens.num_documents, sentences=tokens.num_sentences,
           tokens=tokens.num_tokens, corpus_issues=tokens.meta["corpus"]["issues"])
  r["tokens_per_s_cache"] = tokens.num_tokens / r["cache_build_s"]
  t = time.perf_counter()
  cache_lib.build_cache(corpus, tok, cache_dir, progress=False)
  r["cache_reuse_s"] = time.perf_counter() - t

  t = time.perf_counter()
  arrays = instances.build_instances(tokens, args.family, max_seq_len=args.seq_len, seed=0,
                                     pad_id=tok.pad_id, cls_id=tok.cls_id, sep_id=tok.sep_id)
  r["instances_build_s"] = time.perf_counter() - t
  r["examples"] = len(arrays["input_ids"])
  r["fill"] = float(arrays["attention_mask"].mean())
  for k in arrays:
    if k.endswith("_label"):
      r[k + "_mean"] = float(arrays[k].mean())

  cores = os.sched_getaffinity(0)
  os.sched_setaffinity(0, {sorted(cores)[0]})  # one core from here on
  r["pipeline_seq_per_s"] = _pipeline_rate(arrays, args.batch_size, args.seconds, None)
  r["pipeline_seq_per_s_with_map_fn"] = _pipeline_rate(arrays, args.batch_size, args.seconds,
                                                       _mask_like)
  # The family's real masking (bertlab.objectives.masking), as train.py plugs it in.
  vocab = masking.MaskingVocab(vocab_size=tok.vocab_size, mask_id=tok.mask_id, pad_id=tok.pad_id,
                               special_ids=tok.special_ids)
  strategy = masking.STRATEGIES[DEFAULT_MASKING[args.family]]
  p_max = max(1, int(0.155 * args.seq_len))

  def real_masking(example, rng):
    out = dict(example)
    out.update(strategy(example["input_ids"], example["special_mask"], example["word_starts"],
                        rng=rng, vocab=vocab, max_predictions=p_max))
    return out

  r["masking"] = DEFAULT_MASKING[args.family]
  r["pipeline_seq_per_s_with_family_masking"] = _pipeline_rate(arrays, args.batch_size,
                                                              args.seconds, real_masking)

  # The same masking in 0, 1, 2, ... worker processes (all cores again: workers run beside
  # the reading process); sequences/s, the median of --repeats runs, in the same process.
  os.sched_setaffinity(0, cores)
  from bertlab.train import _Masking
  picklable = _Masking(DEFAULT_MASKING[args.family], vocab, p_max, 0.15)
  for w in (int(x) for x in args.workers.split(",")):
    rates = [_pipeline_rate(arrays, args.batch_size, args.seconds, picklable, w)
             for _ in range(args.repeats)]
    r[f"family_masking_seq_per_s_workers_{w}"] = float(np.median(rates))
  width = max(map(len, r))
  for k, v in r.items():
    print(f"{k:<{width}}  {v:,.3f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(r, f, indent=2)


if __name__ == "__main__":
  main()
