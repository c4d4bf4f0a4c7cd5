"""The study's report from the cells finished so far: study.json, study.md, study.png.

Scores are in percent (accuracy, MCC × 100, entity F1 × 100, SQuAD F1). The average column
is, per replicate, the mean over tasks (replicates missing a task are left out of it).
"""

from __future__ import annotations

import json
import math
import os

from bertlab.study import plan as plan_lib
from bertlab.study import runner, spec, stats


def gather(study, plans, workdir: str) -> dict:
  """Everything measured so far, with summaries (see module docstring)."""
  grid = plan_lib.cells(study, plans)
  results = [runner.read_json(os.path.join(runner.cell_dir(workdir, c), "result.json"))
             for c in grid if runner.is_done(workdir, c)]
  pretrain = {}
  for name, p in plans.items():
    if p.family is None:
      continue
    for seed in study.pretrain.seeds:
      path = os.path.join(runner.run_dir(workdir, name, seed), "pretrain.json")
      if os.path.exists(path):
        pretrain[f"{name}-p{seed}"] = runner.read_json(path)
  task_names = list(spec.tasks(study))
  # scores[arm][fraction][task][(p, f)] = score
  scores: dict = {}
  for r in results:
    scores.setdefault(r["arm"], {}).setdefault(r["fraction"], {}).setdefault(
        r["task"], {})[(r["pretrain_seed"], r["finetune_seed"])] = r["score"]

  def average(arm, frac):
    by_task = scores.get(arm, {}).get(frac, {})
    keys = set.intersection(*(set(by_task.get(t, {})) for t in task_names)) if by_task else set()
    return {k: sum(by_task[t][k] for t in task_names) / len(task_names) for k in keys}

  def task_scores(arm, frac, task):
    return scores.get(arm, {}).get(frac, {}).get(task, {})

  summary = {}
  for name, p in plans.items():
    fracs = [0.0] if p.family is None else [float(f) for f in study.pretrain.fractions]
    for frac, step in zip(fracs, p.checkpoints):
      avg = average(name, frac)
      row = {"arm": name, "fraction": frac, "step": step, "flops": step * p.flops_per_step,
             "tasks": {t: stats.mean_ci(scores.get(name, {}).get(frac, {}).get(t, {}).values())
                       for t in task_names},
             "average": stats.mean_ci(avg.values())}
      if name != study.baseline and p.family is not None:
        row["vs_baseline"] = stats.paired(avg, average(study.baseline, frac))
        row["tasks_vs_baseline"] = {t: stats.paired(task_scores(name, frac, t),
                                                    task_scores(study.baseline, frac, t))
                                    for t in task_names}
      if study.random_init and p.family is not None:
        row["vs_random"] = stats.paired(avg, average(spec.RANDOM_ARM, 0.0))
        row["tasks_vs_random"] = {t: stats.paired(task_scores(name, frac, t),
                                                  task_scores(spec.RANDOM_ARM, 0.0, t))
                                  for t in task_names}
      # The fine-tuning rate each task used (chosen per group with finetune.learning_rates).
      row["rates"] = {t: sorted({r["learning_rate"] for r in results if r["arm"] == name
                                 and r["fraction"] == frac and r["task"] == t})
                      for t in task_names}
      summary.setdefault(name, []).append(row)
  return {
      "study": json.loads(study.to_json_best_effort()),
      "arms": {n: dict(family=p.family, steps=p.steps, checkpoints=list(p.checkpoints),
                       flops_per_step=p.flops_per_step, flops=p.steps * p.flops_per_step)
               for n, p in plans.items()},
      "cells_done": len(results), "cells_total": len(grid),
      "wall_s": {"pretrain": sum(r["wall_s"] for r in pretrain.values()),
                 "finetune": sum(r["wall_s"] for r in results)},
      "pretrain": pretrain,
      "summary": summary,
      "cells": results,
  }


def markdown(report: dict, study) -> str:
  task_names = list(spec.tasks(study))
  lines = [f"# Study: {len(report['arms'])} arms, compute-matched", "",
           f"{report['cells_done']} of {report['cells_total']} cells done. Scores in percent; "
           "mean ± 95 % t-interval over (pretraining seed, fine-tuning seed) replicates.", ""]
  w = report["wall_s"]
  lines += [f"Wall time so far: pretraining {w['pretrain'] / 3600:.2f} h, fine-tuning "
            f"{w['finetune'] / 3600:.2f} h (process time of each part, summed over slices).", ""]
  e = study.encoder
  lines += [f"Encoder L {e.num_layers}, H {e.hidden_size}, A {e.num_heads}, FFN "
            f"{e.intermediate_size}, vocab {e.vocab_size} ({study.tokenizer}, one tokenizer for "
            f"all arms), seq {e.max_seq_len}; budget {study.pretrain.budget_flops:.3g} FLOPs per "
            f"arm, fractions {tuple(study.pretrain.fractions)}; pretraining seeds "
            f"{tuple(study.pretrain.seeds)}, fine-tuning seeds {tuple(study.finetune.seeds)}.", ""]
  lines += ["## Pretraining", "", "| arm | family | steps | GFLOPs/step | FLOPs | wall (s) | "
            "end eval |", "|---|---|---|---|---|---|---|"]
  for name, a in report["arms"].items():
    if a["family"] is None:
      continue
    runs = [r for k, r in report["pretrain"].items() if r["arm"] == name]
    wall = ", ".join(f"{r['wall_s']:.0f}" for r in runs) or "–"
    end = []
    for r in runs:
      ev = r["eval"].get(str(r["steps"]), {})
      end.append(", ".join(f"{k[5:]} {v:.3f}" for k, v in sorted(ev.items())
                           if k.endswith("accuracy") or k == "eval_loss"))
    lines.append(f"| {name} | {a['family']} | {a['steps']} | {a['flops_per_step'] / 1e9:.2f} | "
                 f"{a['flops']:.3g} | {wall} | {'; '.join(end) or '–'} |")
  lines += ["", "## Downstream at the full budget", "",
            "| arm | " + " | ".join(task_names) + " | average | Δ vs "
            f"{study.baseline} | Δ vs random |",
            "|---|" + "---|" * (len(task_names) + 3)]
  for name, rows in report["summary"].items():
    row = rows[-1]
    cells = [stats.fmt(row["tasks"][t]) for t in task_names] + [stats.fmt(row["average"])]
    for key in ("vs_baseline", "vs_random"):
      d = row.get(key)
      cells.append("–" if d is None else stats.fmt(d, sign=True) + (" *" if d["separated"] else ""))
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  lines += ["", "Δ: paired difference of the average over the same replicates; * = the 95 % "
            "interval excludes 0.", ""]
  lines += ["## Per task at the full budget: paired Δ", "",
            "| arm | Δ vs | " + " | ".join(task_names) + " |",
            "|---|---|" + "---|" * len(task_names)]
  for name, rows in report["summary"].items():
    for key, other in (("tasks_vs_baseline", study.baseline), ("tasks_vs_random", "random")):
      if key in rows[-1]:
        lines.append(f"| {name} | {other} | " + " | ".join(
            stats.fmt(d, sign=True) + (" *" if d["separated"] else "")
            for d in (rows[-1][key][t] for t in task_names)) + " |")
  if tuple(study.finetune.learning_rates):
    lines += ["", f"Fine-tuning rate chosen (of {tuple(study.finetune.learning_rates)}, on "
              f"{study.finetune.select_fraction:g} of each task's training examples, once per "
              "arm, fraction and task):", "",
              "| arm | fraction | " + " | ".join(task_names) + " |",
              "|---|---|" + "---|" * len(task_names)]
    for name, rows in report["summary"].items():
      for row in rows:
        if any(row["rates"].values()):
          lines.append(f"| {name} | {row['fraction']:g} | " + " | ".join(
              ", ".join(f"{lr:g}" for lr in row["rates"][t]) or "–" for t in task_names) + " |")
  lines += ["", "## Average score vs pretraining compute", "",
            "| arm | " + " | ".join(f"{f:g}" for f in study.pretrain.fractions) + " |",
            "|---|" + "---|" * len(study.pretrain.fractions)]
  for name, rows in report["summary"].items():
    if len(rows) > 1:
      lines.append(f"| {name} | " + " | ".join(
          f"{stats.fmt(r['average'])} @ {r['flops']:.3g} FLOPs" for r in rows) + " |")
  return "\n".join(lines) + "\n"


def plot(report: dict, path: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(figsize=(6, 4))
  for name, rows in report["summary"].items():
    pts = [(r["flops"], r["average"]["mean"], r["average"]["ci"]) for r in rows
           if math.isfinite(r["average"]["mean"])]
    if not pts:
      continue
    if rows[0]["flops"] == 0:  # the random-init arm: a floor, not a curve
      m, ci = pts[0][1], pts[0][2]
      ax.axhline(m, color="gray", linestyle="--", label=f"{name} (no pretraining)")
      if math.isfinite(ci):
        ax.axhspan(m - ci, m + ci, color="gray", alpha=0.15)
      continue
    x, y, ci = zip(*pts)
    ax.errorbar([v / 1e15 for v in x], y, yerr=[c if math.isfinite(c) else 0 for c in ci],
                marker="o", capsize=3, label=name)
  ax.set_xlabel("pretraining compute (PFLOPs)")
  ax.set_ylabel("average downstream score (%)")
  ax.grid(alpha=0.3)
  if ax.get_legend_handles_labels()[0]:  # nothing finished yet: an empty plot, no legend
    ax.legend(fontsize=8)
  fig.tight_layout()
  tmp = path + f".tmp-{os.getpid()}.png"
  fig.savefig(tmp, dpi=120)
  plt.close(fig)
  os.replace(tmp, path)


def write(study, plans, workdir: str) -> dict:
  """Rewrites WORKDIR/study.{json,md,png} from the finished cells."""
  report = gather(study, plans, workdir)
  runner.write_json(os.path.join(workdir, "study.json"), report)
  tmp = os.path.join(workdir, f"study.md.tmp-{os.getpid()}")
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(markdown(report, study))
  os.replace(tmp, os.path.join(workdir, "study.md"))
  plot(report, os.path.join(workdir, "study.png"))
  return report
