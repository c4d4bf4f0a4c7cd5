"""Masked-LM accuracy of a pretraining run on windows of n tokens: does it read short inputs?

  python benchmarks/mlm_by_length.py --workdir runs/grid/pretrain/roberta-p0 \
      --steps 4800,9600 --lengths 16,32,64,128 --json runs/bench/mlm_by_length.json
  # another run (same tokenizer) read on the first one's text:
  python benchmarks/mlm_by_length.py --workdir runs/grid/pretrain/roberta_doc-p0 \
      --texts runs/grid/pretrain/roberta-p0

RoBERTa's FULL-SENTENCES rows are all full-length, BERT's pairs and SpanBERT's rows mostly
short; fine-tuning sentences (CoNLL-2003: ~20 tokens) are short. This reads one question off
a checkpoint: does its MLM use context as well on a short input as on a full row?

The text is the run's held-out examples (train.py's evaluation batches, their masks put back;
with --texts, another run's on the same tokenizer), only those with at least max(lengths) - 2
tokens, so every n reads the same text: the window of n is [CLS] + the example's first n - 2 tokens + [SEP]. In each window 15 % of the
n - 2 tokens (at least one) become [MASK], drawn with a fixed seed, with none of BERT's random
or kept replacements: the accuracy counts only predictions from context (the run's logged
eval_mlm_accuracy also scores the ~10 % kept tokens, which are copied back). A model on the
MLM plateau predicts frequent tokens (~6 % here); one that reads context more.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # pair_task_diagnostics, figures_out

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
from figures_out import show_and_save  # noqa: E402
from pair_task_diagnostics import unmask  # noqa: E402

MASK_FRACTION = 0.15


def long_examples(batches: list[dict], tokenizer, min_tokens: int) -> list[np.ndarray]:
  """The text tokens (no special tokens, no padding) of every example in `batches` with at
  least `min_tokens` of them; a packed row's examples are read one by one (`segment_ids`)."""
  special = np.asarray(tokenizer.special_ids)
  out = []
  for b in batches:
    b = unmask(b)
    ids = np.asarray(b["input_ids"])
    seg = np.asarray(b["segment_ids"]) if "segment_ids" in b else np.asarray(b["attention_mask"])
    for r in range(ids.shape[0]):
      for s in np.unique(seg[r][seg[r] > 0]):
        x = ids[r][seg[r] == s]
        x = x[~np.isin(x, special)]
        if len(x) >= min_tokens:
          out.append(x)
  return out


def windows(texts: list[np.ndarray], n: int, tokenizer, rng: np.random.Generator):
  """(input ids [B, n] with [MASK]s, masked positions [B, K], their tokens [B, K]) for the
  windows [CLS] + text[:n - 2] + [SEP]; K = max(1, round(0.15 (n - 2)))."""
  k = max(1, round(MASK_FRACTION * (n - 2)))
  ids = np.stack([np.concatenate([[tokenizer.cls_id], t[:n - 2], [tokenizer.sep_id]])
                  for t in texts]).astype(np.int32)
  pos = np.stack([np.sort(rng.choice(np.arange(1, n - 1), k, replace=False))
                  for _ in texts]).astype(np.int32)
  want = np.take_along_axis(ids, pos, 1)
  masked = ids.copy()
  np.put_along_axis(masked, pos, tokenizer.mask_id, 1)
  return masked, pos, want


def _mlm(model, params):
  @jax.jit
  def logits(ids, pos):
    out = model.apply({"params": params}, ids, jnp.ones_like(ids), jnp.zeros_like(ids), pos,
                      True, method=lambda m, *a: m.logits(*a))
    return out["mlm"].argmax(-1)
  return logits


def _config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: a train.py pretraining workdir is expected")
  with open(path, encoding="utf-8") as f:
    return ml_collections.ConfigDict(json.load(f))


def diagnose(workdir: str, steps: list[int | None], lengths: list[int], batch_size: int = 32,
             seed: int = 0, texts_from: str | None = None) -> list[dict]:
  """One row per checkpoint step: [MASK] accuracy at each window length. `texts_from`: read
  another run's held-out examples (same tokenizer), so that runs whose own examples differ
  (FULL- against DOC-SENTENCES, pairs against single segments) are read on one text."""
  from bertlab import train
  from bertlab.convert.workdir import bundle_from_workdir
  from pair_task_diagnostics import _fingerprint

  config = _config(workdir)
  source = texts_from or workdir
  text_config = _config(source) if texts_from else config
  if texts_from and _fingerprint(source, text_config) != _fingerprint(workdir, config):
    raise ValueError(f"{source}'s tokenizer is not {workdir}'s: its token ids would be other "
                     "words to this model")
  if config.family == "electra":
    raise ValueError(f"{workdir} is an electra run: its discriminator has no masked-LM head "
                     "(read its generator's with rtd_diagnostics.py)")
  if min(lengths) < 3 or max(lengths) > config.data.max_seq_len:
    raise ValueError(f"lengths {lengths}: each must lie in 3..{config.data.max_seq_len} (the "
                     "run's max_seq_len), room for [CLS], one token and [SEP]")
  tokenizer, _, evals = train.build_data(text_config, source)
  texts = long_examples(evals, tokenizer, max(lengths) - 2)
  if not texts:
    raise ValueError(f"{source}: no held-out example has {max(lengths) - 2} tokens; give "
                     "shorter --lengths or --texts from a run with longer examples")
  rows = []
  for step in steps:
    bundle = bundle_from_workdir(workdir, step)
    predict = _mlm(bundle.model, bundle.params)
    row = {"workdir": workdir, "step": int(bundle.source.rsplit(" step ", 1)[1]),
           "texts": source, "examples": len(texts), "accuracy": {}}
    for n in lengths:
      rng = np.random.default_rng(seed)  # the same masks for every checkpoint
      hits = total = 0
      for i in range(0, len(texts), batch_size):
        ids, pos, want = windows(texts[i:i + batch_size], n, tokenizer, rng)
        hits += int((np.asarray(predict(jnp.asarray(ids), jnp.asarray(pos))) == want).sum())
        total += want.size
      row["accuracy"][str(n)] = hits / total
    rows.append(row)
  return rows


def table(rows: list[dict]) -> str:
  lengths = list(rows[0]["accuracy"])
  lines = ["| run | step | examples | " + " | ".join(f"n = {n}" for n in lengths) + " |",
           "|---" * (3 + len(lengths)) + "|"]
  for r in rows:
    lines.append(f"| {os.path.basename(r['workdir'].rstrip('/'))} | {r['step']} | "
                 f"{r['examples']} | " + " | ".join(f"{100 * r['accuracy'][n]:.1f} %"
                                                    for n in lengths) + " |")
  return "\n".join(lines)


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--workdir", required=True, help="a pretraining workdir with an MLM head")
  ap.add_argument("--steps", default="", help="checkpoint steps, comma-separated (default: last)")
  ap.add_argument("--lengths", default="16,32,64,128", help="window lengths n, comma-separated")
  ap.add_argument("--texts", default=None, help="read this run's held-out examples instead "
                  "(the same tokenizer): one text for runs whose own examples differ")
  ap.add_argument("--json", default="", help="write the figures here")
  a = ap.parse_args(argv)
  steps = [int(x) for x in a.steps.split(",") if x] or [None]
  rows = diagnose(a.workdir, steps, [int(x) for x in a.lengths.split(",")],
                  texts_from=a.texts)
  show_and_save(table(rows), rows, a.json)


if __name__ == "__main__":
  main()
