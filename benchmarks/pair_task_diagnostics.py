"""NSP against SOP, as ALBERT Table 5 measures them: each pair head on both pair tasks.

  python benchmarks/pair_task_diagnostics.py --workdir runs/grid/pretrain/bert-p0 \
      --workdir runs/grid/pretrain/albert-p0 --json runs/bench/pairs.json
  # one head on both tasks, the other task's pairs from a run's config alone:
  python benchmarks/pair_task_diagnostics.py --workdir runs/grid/pretrain/albert-p0 \
      --pairs runs/grid/pretrain/bert-p0

Each --workdir is a pretraining run with a sentence-pair head: BERT's NSP (label 1 = B is a
segment of another document) or ALBERT's SOP (label 1 = A and B swapped). Both labels say "B
does not follow A", so every head reads both tasks as they are. The tasks are the runs' own
held-out pairs (train.py's evaluation batches), read two ways:

  masked  the batches as the run's evaluation sees them (its masks; a head on its own task
          reproduces the run's logged eval_nsp_accuracy / eval_sop_accuracy);
  clean   the same pairs with the masked tokens put back: whole sentences, as a fine-tuning
          task would give them.

For each head, checkpoint and task: accuracy (argmax) and AUC (P(a label-1 pair scores above a
label-0 pair), by p(label 1)). ALBERT's argument is the off-diagonal: an NSP head mostly judges
topic (a random B is off-topic) and reads a swapped pair as a continuation (~50 % on SOP),
while an SOP head has learned order, which also rejects many random B's (ALBERT T5, base:
NSP-trained 90.5 NSP / 52.0 SOP, SOP-trained 78.9 / 86.5).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # figures_out

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
from figures_out import show_and_save  # noqa: E402

TASKS = dict(bert="nsp", albert="sop")


def _config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: --workdir takes a train.py pretraining workdir")
  with open(path, encoding="utf-8") as f:
    config = ml_collections.ConfigDict(json.load(f))
  if config.family not in TASKS:
    raise ValueError(f"{workdir} is a {config.family} run: it has no sentence-pair head "
                     f"(NSP or SOP: a bert or albert run)")
  return config


def unmask(batch: dict) -> dict:
  """The batch with every masked-LM position given back its original token."""
  ids = np.array(batch["input_ids"])
  rows = np.arange(ids.shape[0])[:, None]
  keep = np.asarray(batch["mlm_weights"]) > 0
  pos, orig = np.asarray(batch["mlm_positions"]), np.asarray(batch["mlm_ids"])
  ids[np.broadcast_to(rows, pos.shape)[keep], pos[keep]] = orig[keep]
  return dict(batch, input_ids=ids)


def _fingerprint(workdir: str, config) -> str | None:
  from bertlab.convert.workdir import tokenizer_dir
  from bertlab.data.tokenizers import Tokenizer

  path = tokenizer_dir(workdir, config.to_dict())
  return Tokenizer.load(path).fingerprint() if path else None


def task_batches(workdir: str) -> tuple[str, list[dict]]:
  """(task, held-out batches with their masks) of a bert/albert run."""
  from bertlab import train

  config = _config(workdir)
  _, _, evals = train.build_data(config, workdir)
  if not evals:
    raise ValueError(f"{workdir}: the run has no held-out batches (eval_batches = 0)")
  task = TASKS[config.family]
  if any(f"{task}_label" not in b for b in evals):
    raise ValueError(f"{workdir}: its held-out batches carry no {task}_label")
  return task, evals


def pair_head(model):
  """jitted (params, batch) -> p(label 1) of the model's pair head, per example."""
  @jax.jit
  def p1(params, ids, mask, types):
    none = jnp.zeros((ids.shape[0], 1), jnp.int32)  # one MLM position: its logits are unused
    out = model.apply({"params": params}, ids, mask, types, none, True,
                      method=lambda m, *a: m.logits(*a))
    return jax.nn.softmax(out["pair"].astype(jnp.float32), axis=-1)[:, 1]
  return lambda params, b: p1(params, b["input_ids"], b["attention_mask"],
                              b.get("token_type_ids"))


def pair_scores(head, params, batches: list[dict], label_key: str):
  """p(label 1) by `head` (from pair_head) and the labels, over every example of `batches`."""
  scores = [np.asarray(head(params, b)) for b in batches]
  labels = [np.asarray(b[label_key]) for b in batches]
  return np.concatenate(scores), np.concatenate(labels)


def figures(scores: np.ndarray, labels: np.ndarray) -> dict:
  from bertlab.objectives import losses

  y = labels.astype(np.float32)
  auc = losses.rank_auc(jnp.asarray(scores), jnp.asarray(y), jnp.asarray(1 - y))
  return {"accuracy": float(np.mean((scores > 0.5) == (labels == 1))), "auc": float(auc),
          "examples": int(len(labels)), "label1_fraction": float(y.mean())}


def diagnose(workdirs: list[str], steps: list[int | None],
             pairs_only: tuple[str, ...] = ()) -> list[dict]:
  """One row per (run, step): its head's figures on every run's task, masked and clean.

  `pairs_only`: runs whose held-out pairs are read but whose head is not (only their config.json
  and tokenizer are needed, no checkpoint): one SOP run's head on NSP pairs, say."""
  from bertlab.convert.workdir import bundle_from_workdir

  if not workdirs:
    raise ValueError("no run to read a head from: give at least one --workdir")
  # every check before any data is built
  configs = {w: _config(w) for w in list(workdirs) + list(pairs_only)}
  families = [c.family for c in configs.values()]
  for f in set(families):
    if families.count(f) > 1:
      raise ValueError(f"{families.count(f)} {TASKS[f].upper()} runs: give one bert and one "
                       "albert run (or one of either)")
  prints = {w: _fingerprint(w, c) for w, c in configs.items()}
  if len(set(prints.values())) > 1 or None in prints.values():
    raise ValueError(f"the runs' tokenizers differ (or one is missing): {sorted(prints)}; one "
                     "run's pairs would be other tokens to the other's head")
  tasks = {}
  for w in configs:
    task, batches = task_batches(w)
    tasks[task] = (w, batches)
  rows = []
  for w in workdirs:
    head = TASKS[configs[w].family]
    for step in steps:
      bundle = bundle_from_workdir(w, step)
      head_fn = pair_head(bundle.model)
      row = {"workdir": w, "head": head, "step": int(bundle.source.rsplit(" step ", 1)[1])}
      for task, (source, batches) in tasks.items():
        for view, bs in (("masked", batches), ("clean", [unmask(b) for b in batches])):
          s, y = pair_scores(head_fn, bundle.params, bs, f"{task}_label")
          row[f"{task}_{view}"] = dict(figures(s, y), source=source)
      rows.append(row)
  return rows


def table(rows: list[dict]) -> str:
  tasks = [t for t in ("nsp", "sop") if f"{t}_clean" in rows[0]]
  head = "| run | head | step | " + " | ".join(
      f"{t.upper()} pairs, {v}: acc / AUC" for t in tasks for v in ("clean", "masked")) + " |"
  lines = [head, "|---" * (3 + 2 * len(tasks)) + "|"]
  for r in rows:
    cells = [f"{100 * r[f'{t}_{v}']['accuracy']:.1f} % / {r[f'{t}_{v}']['auc']:.3f}"
             for t in tasks for v in ("clean", "masked")]
    lines.append(f"| {os.path.basename(r['workdir'].rstrip('/'))} | {r['head'].upper()} | "
                 f"{r['step']} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--workdir", action="append", required=True,
                  help="a bert (NSP) or albert (SOP) pretraining workdir; give one of each to "
                       "read each head on both tasks")
  ap.add_argument("--pairs", action="append", default=[],
                  help="a bert or albert run (or just its config.json and tokenizer) whose "
                       "held-out pairs are read, its head not")
  ap.add_argument("--steps", default="", help="checkpoint steps, comma-separated (default: last); "
                  "every --workdir run must have them")
  ap.add_argument("--json", default="", help="write the figures here")
  a = ap.parse_args(argv)
  steps = [int(x) for x in a.steps.split(",") if x] or [None]
  rows = diagnose(a.workdir, steps, tuple(a.pairs))
  show_and_save(table(rows), rows, a.json)


if __name__ == "__main__":
  main()
