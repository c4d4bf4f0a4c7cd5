"""Measures what a study's grid costs on this machine, and estimates its wall time.

  python benchmarks/study_timing.py --config configs/study/objectives_cpu.py \
      --workdir runs/study --steps 30 --out benchmarks/study_timing.json

Per arm: `--steps` pretraining steps of the study's own config (its tokenizer and caches in
WORKDIR are the ones the study then reuses); steps/s is read from metrics.jsonl (the steps
after the first logged interval, so compilation is left out). Per task: two fine-tuning runs of
the random arm (`--steps` and 3x that many steps); their difference gives the time per step,
the rest is the fixed cost of a cell (data, compile, evaluation). The estimate is
sum over arms of steps / (steps/s) + sum over cells of (fixed + steps x per step).
Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout

from bertlab.study import plan as plan_lib  # noqa: E402
from bertlab.study import runner, spec  # noqa: E402


def load(path):
  s = importlib.util.spec_from_file_location("study_config", path)
  m = importlib.util.module_from_spec(s)
  s.loader.exec_module(m)
  return m.get_config()


def pretrain_rate(study, arm, workdir, steps):
  from bertlab import train

  log_every = max(steps // 3, 1)
  c = plan_lib.pretrain_config(study, arm, 0, workdir, steps, steps)
  c.log_every_steps, c.eval_batches = log_every, 1
  out = os.path.join(workdir, "timing", arm)
  t0 = time.perf_counter()
  train.run(c, out, echo=lambda m: None)
  wall = time.perf_counter() - t0
  rows = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl")) if '"loss"' in l]
  rates = [r["steps_per_s"] for r in rows[1:]] or [rows[-1]["steps_per_s"]]
  return sorted(rates)[len(rates) // 2], wall


def finetune_cost(study, task, workdir, steps):
  from bertlab import finetune
  from bertlab.tasks.finetune_data import task_info

  walls = {}
  for n in (steps, 3 * steps):
    c = spec.load_task_config(study, task)
    c.init_from = runner.run_dir(workdir, spec.RANDOM_ARM, 0)
    c.random_init, c.seeds, c.total_steps = True, (0,), n
    lines = []
    t0 = time.perf_counter()
    finetune.run(c, os.path.join(workdir, "timing", f"ft_{task}_{n}"), echo=lines.append)
    walls[n] = time.perf_counter() - t0
  per_step = (walls[3 * steps] - walls[steps]) / (2 * steps)
  fixed = walls[steps] - steps * per_step
  # The cell's own step count: epochs x examples / batch (read from the run's first line).
  head = next(l for l in lines if "train /" in l)
  n_train = int(head.split(";")[1].split("train")[0].strip())
  c = spec.load_task_config(study, task)
  cell_steps = c.total_steps or math.ceil(c.num_epochs * n_train / c.batch_size)
  del task_info
  return dict(per_step_s=per_step, fixed_s=fixed, train_inputs=n_train, cell_steps=cell_steps,
              cell_s=fixed + cell_steps * per_step)


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--config", required=True)
  ap.add_argument("--workdir", required=True)
  ap.add_argument("--steps", type=int, default=30)
  ap.add_argument("--out", default="benchmarks/study_timing.json")
  ap.add_argument("--arms", default="", help="comma-separated subset (default: all)")
  ap.add_argument("--tasks", default="", help="comma-separated subset (default: all)")
  a = ap.parse_args()
  study = load(a.config)
  spec.validate(study)
  workdir = os.path.abspath(a.workdir)
  plans = plan_lib.arm_plans(study, workdir)
  runner.prepare(study, workdir, print)
  arms = [x for x in a.arms.split(",") if x] or [n for n, p in plans.items() if p.family]
  tasks = [x for x in a.tasks.split(",") if x] or list(spec.tasks(study))
  out = {"config": a.config, "steps": a.steps, "arms": {}, "tasks": {}}
  print(f"{'arm':<16}{'steps/s':>9}{'steps':>8}{'est. min':>10}{'run wall s':>12}")
  for arm in arms:
    rate, wall = pretrain_rate(study, arm, workdir, a.steps)
    p = plans[arm]
    out["arms"][arm] = dict(steps_per_s=rate, steps=p.steps, est_s=p.steps / rate, wall_s=wall)
    print(f"{arm:<16}{rate:>9.2f}{p.steps:>8}{p.steps / rate / 60:>10.1f}{wall:>12.0f}", flush=True)
  print(f"{'task':<12}{'s/step':>8}{'fixed s':>9}{'cell steps':>11}{'cell s':>8}")
  for task in tasks:
    t = finetune_cost(study, task, workdir, a.steps)
    out["tasks"][task] = t
    print(f"{task:<12}{t['per_step_s']:>8.3f}{t['fixed_s']:>9.1f}{t['cell_steps']:>11}"
          f"{t['cell_s']:>8.0f}", flush=True)
  grid = plan_lib.cells(study, plans)
  pre = sum(v["est_s"] for v in out["arms"].values()) * len(study.pretrain.seeds)
  ft = sum(out["tasks"][c.task]["cell_s"] for c in grid if c.task in out["tasks"])
  out["estimate"] = dict(cells=len(grid), pretrain_s=pre, finetune_s=ft, total_s=pre + ft,
                         complete=set(arms) == {n for n, p in plans.items() if p.family}
                         and set(tasks) == set(spec.tasks(study)))
  print(f"grid: {len(grid)} cells; pretraining {pre / 3600:.2f} h + fine-tuning {ft / 3600:.2f} h"
        f" = {(pre + ft) / 3600:.2f} h on this machine (as loaded as it was)")
  with open(a.out, "w") as f:
    json.dump(out, f, indent=2)


if __name__ == "__main__":
  main()
