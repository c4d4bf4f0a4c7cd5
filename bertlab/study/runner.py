"""Running a study's cells: shared preparation, pretraining runs, fine-tuning cells.

WORKDIR layout:
  tokenizer/                      trained once on the corpus; every arm loads it
  cache/                          token and instance caches, shared by the arms
  pretrain/ARM-pSEED/             a `train.py` workdir (resumes from its checkpoints);
    pretrain.json                 written when the run is complete: steps, FLOPs, wall, metrics
    views/step_S/                 config.json + checkpoints/S (a link): what a cell loads
  pretrain/random/config.json     the random-init arm's architecture and tokenizer
  cells/ARM/pP/fracF/TASK/fS/     a `finetune.py` workdir; result.json when the cell is done
  cells/ARM/pP/fracF/TASK/select/ the group's fine-tuning rate choice (finetune.learning_rates)
A cell is done when its result.json exists, so re-running skips it; a killed pretraining run
resumes from its last checkpoint and a killed fine-tuning cell starts again (minutes at most).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import shutil
import socket
import time

from bertlab.study import plan as plan_lib
from bertlab.study import spec

LOCK_POLL_S = 10.0


def write_json(path: str, obj) -> None:
  """Atomically: readers (other slices, --report) never see half a file."""
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(obj, f, indent=2)
  os.replace(tmp, path)


def read_json(path: str):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def prepare(study, workdir: str, echo=print) -> None:
  """The tokenizer (trained once: WordPiece training is not bit-reproducible, so every arm
  must load the same files) and the random arm's directory."""
  from bertlab.data import cache as cache_lib
  from bertlab.data.corpus_spec import open_corpus
  from bertlab.data.tokenizer_training import train_tokenizer

  os.makedirs(workdir, exist_ok=True)
  tok_dir = os.path.join(workdir, "tokenizer")
  if not os.path.isdir(tok_dir):
    corpus = [p for p in study.corpus.split(",") if p] or None
    text = open_corpus(corpus, doc_per_line=study.one_doc_per_line) if corpus else open_corpus(None)
    echo(f"training a {study.tokenizer} tokenizer (vocab {study.encoder.vocab_size}) into {tok_dir}")
    tok = train_tokenizer(study.tokenizer, text, vocab_size=study.encoder.vocab_size,
                          lowercase=study.lowercase)
    with cache_lib.atomic_dir(tok_dir) as tmp:
      tok.save(tmp)
  if study.random_init:
    random_dir = os.path.join(workdir, "pretrain", spec.RANDOM_ARM)
    os.makedirs(random_dir, exist_ok=True)
    c = plan_lib.pretrain_config(study, spec.RANDOM_ARM, 0, workdir)
    write_json(os.path.join(random_dir, "config.json"), json.loads(c.to_json_best_effort()))


def run_dir(workdir: str, arm: str, seed: int) -> str:
  if arm == spec.RANDOM_ARM:
    return os.path.join(workdir, "pretrain", arm)
  return os.path.join(workdir, "pretrain", f"{arm}-p{seed}")


@contextlib.contextmanager
def _lock(path: str, done, echo):
  """Exclusive use of a pretraining run across processes sharing the workdir; yields False
  if another process finished it meanwhile. A lock left by a dead process on this host is
  taken over; one held elsewhere is waited for."""
  me = f"{socket.gethostname()}:{os.getpid()}"
  waited = False
  while True:
    if done():
      yield False
      return
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
      os.write(fd, me.encode())
      os.close(fd)
      break
    except FileExistsError:
      try:
        host, pid = open(path).read().rsplit(":", 1)
      except (OSError, ValueError):
        host, pid = "", "0"
      if host == socket.gethostname() and not _alive(int(pid or 0)):
        with contextlib.suppress(FileNotFoundError):
          os.remove(path)
        continue
      if not waited:
        echo(f"waiting for {path} (held by {host}:{pid})")
        waited = True
      time.sleep(LOCK_POLL_S)
  try:
    yield True
  finally:
    with contextlib.suppress(FileNotFoundError):
      os.remove(path)


def _alive(pid: int) -> bool:
  if pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def _metrics(path: str) -> list[dict]:
  if not os.path.exists(path):
    return []
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f if line.strip()]


def pretrain(study, arm_plan: plan_lib.ArmPlan, seed: int, workdir: str, log) -> dict:
  """Runs (or resumes) the arm's pretraining; returns its pretrain.json record."""
  from bertlab import train

  directory = run_dir(workdir, arm_plan.name, seed)
  record = os.path.join(directory, "pretrain.json")
  os.makedirs(os.path.dirname(directory), exist_ok=True)
  with _lock(directory + ".lock", lambda: os.path.exists(record), log) as mine:
    if mine:
      every = arm_plan.checkpoint_every
      config = plan_lib.pretrain_config(study, arm_plan.name, seed, workdir, arm_plan.steps, every)
      os.makedirs(directory, exist_ok=True)
      wall_file = os.path.join(directory, "study_wall.json")
      before = read_json(wall_file)["wall_s"] if os.path.exists(wall_file) else 0.0
      t0 = time.perf_counter()
      try:
        train.run(config, directory, echo=log)
      finally:
        write_json(wall_file, {"wall_s": before + time.perf_counter() - t0})
      final = os.path.join(directory, "checkpoints", str(arm_plan.steps))
      if not os.path.isdir(final):
        raise InterruptedError(f"pretraining {directory} stopped before step {arm_plan.steps} "
                               "(SIGTERM?); run the study again to resume it.")
      rows = _metrics(os.path.join(directory, "metrics.jsonl"))
      evals = {str(r["step"]): {k: v for k, v in r.items() if k.startswith("eval_")}
               for r in rows if any(k.startswith("eval_") for k in r)}
      train_rows = [r for r in rows if "loss" in r]
      write_json(record, dict(
          arm=arm_plan.name, family=arm_plan.family, seed=seed, steps=arm_plan.steps,
          flops_per_step=arm_plan.flops_per_step, checkpoints=list(arm_plan.checkpoints),
          wall_s=read_json(wall_file)["wall_s"], eval=evals,
          first_train=train_rows[0] if train_rows else {},
          last_train=train_rows[-1] if train_rows else {}))
  return read_json(record)


def checkpoint_view(directory: str, step: int) -> str:
  """A directory that looks like a pretraining workdir holding only checkpoint `step`:
  fine-tuning loads the newest checkpoint of what it is given."""
  view = os.path.join(directory, "views", f"step_{step}")
  link = os.path.join(view, "checkpoints", str(step))
  if not os.path.islink(link):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    shutil.copyfile(os.path.join(directory, "config.json"), os.path.join(view, "config.json"))
    os.symlink(os.path.join("..", "..", "..", "checkpoints", str(step)), link)
  return view


def cell_dir(workdir: str, cell: plan_lib.Cell) -> str:
  return os.path.join(workdir, "cells", *cell.id.split("/"))


def selection_dir(workdir: str, cell: plan_lib.Cell) -> str:
  """Where the fine-tuning rate of the cell's (arm, pretraining seed, fraction, task) group is
  chosen: beside its seeds' cells."""
  return os.path.join(os.path.dirname(cell_dir(workdir, cell)), "select")


def run_cell(study, plans, cell: plan_lib.Cell, workdir: str, log) -> dict:
  """Fine-tunes one cell (pretraining first if its run is not complete); writes result.json."""
  from bertlab import finetune
  from bertlab.tasks.finetune_data import task_info

  arm_plan = plans[cell.arm]
  out = cell_dir(workdir, cell)
  config = spec.load_task_config(study, cell.task)
  if arm_plan.family is None:
    config.init_from = run_dir(workdir, cell.arm, 0)
    config.random_init = True
    # A distinct random initialisation per (pretraining seed, fine-tuning seed) replicate.
    seed = 1000 * cell.pretrain_seed + cell.finetune_seed
    record = None
  else:
    record = pretrain(study, arm_plan, cell.pretrain_seed, workdir, log)
    config.init_from = checkpoint_view(run_dir(workdir, cell.arm, cell.pretrain_seed), cell.step)
    seed = cell.finetune_seed
  config.seeds = (seed,)
  shutil.rmtree(os.path.join(out, "finetune"), ignore_errors=True)  # a killed cell starts over
  os.makedirs(out, exist_ok=True)
  info = task_info(config.task)
  main = info.metrics[0]
  t0 = time.perf_counter()
  first = study.finetune.seeds[0]
  selection_seed = (1000 * cell.pretrain_seed + first) if arm_plan.family is None else first
  selection = _select_rate(study, config, selection_dir(workdir, cell), selection_seed, main, log)
  metrics = finetune.run(config, os.path.join(out, "finetune"), echo=log)
  wall = time.perf_counter() - t0
  scale = 1.0 if info.source == "squad" else 100.0  # every score in percent (SQuAD already is)
  result = dict(
      cell=cell.id, arm=cell.arm, family=arm_plan.family, pretrain_seed=cell.pretrain_seed,
      fraction=cell.fraction, pretrain_step=cell.step,
      pretrain_flops=cell.step * arm_plan.flops_per_step, task=cell.task,
      finetune_seed=cell.finetune_seed, seed_used=seed, metric=main,
      score=scale * float(metrics[main]), metrics=metrics, wall_s=wall,
      pretrain_eval=(record or {}).get("eval", {}).get(str(cell.step), {}),
      learning_rate=config.optimizer.learning_rate, selection=selection,
      config=json.loads(config.to_json_best_effort()))
  write_json(os.path.join(out, "result.json"), result)
  return result


def _select_rate(study, config, group: str, selection_seed: int, metric: str, log) -> dict:
  """With study.finetune.learning_rates: fine-tunes at each rate on part of the training
  examples, scores the rest (`select_fraction`), and sets the best rate (ties: the lower) in
  `config`; returns {rate: selection score}. The reported split is never read here.

  Chosen once per (arm, pretraining seed, fraction, task) group, with the replicate of its
  first fine-tuning seed, and reused by every seed of the group (BERT §4.1: one rate per task,
  picked on dev, then the seeds): a third of the cost of choosing per cell, and every seed of
  an arm is then fine-tuned the same way. `group/selection.json` keeps the choice; slices that
  meet the group wait for the one choosing (`group.lock`)."""
  from bertlab import finetune

  rates = tuple(study.finetune.learning_rates)
  if not rates:
    return {}
  done = os.path.join(group, "selection.json")
  # A choice made with other rates, fraction or seed (the config changed) is made again.
  want = dict(seed=selection_seed, rates=[f"{lr:g}" for lr in sorted(rates)],
              select_fraction=study.finetune.select_fraction)

  def current():
    if not os.path.exists(done):
      return None
    made = read_json(done)
    return made if all(made.get(k) == v for k, v in want.items()) else None

  os.makedirs(group, exist_ok=True)
  # Slices sharing the workdir choose a group's rate one at a time (the runs share folders).
  with _lock(group + ".lock", lambda: current() is not None, log) as mine:
    if mine:
      scores = {}
      for lr in sorted(rates):
        c = copy.deepcopy(config)
        c.optimizer.learning_rate = lr
        c.select_fraction = study.finetune.select_fraction
        c.seeds = (selection_seed,)
        d = os.path.join(group, f"lr{lr:g}")
        shutil.rmtree(d, ignore_errors=True)
        scores[f"{lr:g}"] = float(finetune.run(c, d, echo=log)[metric])
        log(f"selection: lr {lr:g}: {metric} {scores[f'{lr:g}']:.4f}")
      write_json(done, dict(**want, scores=scores))
  scores = current()["scores"]
  score = lambda lr: scores[f"{lr:g}"] if not math.isnan(scores[f"{lr:g}"]) else -math.inf
  best = max(sorted(rates), key=score)  # max keeps the first, i.e. the lowest rate of a tie
  config.optimizer.learning_rate = best
  log(f"selection: lr {best:g} chosen on {study.finetune.select_fraction:g} of the training "
      f"examples ({done})")
  return scores


def is_done(workdir: str, cell: plan_lib.Cell) -> bool:
  return os.path.exists(os.path.join(cell_dir(workdir, cell), "result.json"))
