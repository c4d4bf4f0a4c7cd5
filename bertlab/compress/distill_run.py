"""The distillation driver: config -> teacher, student and data -> `training.loop.run` -> student.

  python distill.py --config configs/distill/sst2_tiny.py --workdir runs/sst2_student \
      --config.teacher=runs/sst2 [--config.KEY=VALUE ...]

The Distiller trains through `training.step.build` and `training.loop.run`, so WORKDIR holds
what every run holds (config.json, checkpoints/ with the whole state, teacher included, so a
rerun resumes; metrics.jsonl; tensorboard/), and then student/:
  task: a `compress.artifact` (model.json + params.safetensors) and its eval_results.json on
        the teacher's dev split (benchmarks/compress_cost.py reads it);
  mlm:  a pretraining workdir layout (config.json + checkpoints/STEP/state) that
        `finetune.py --config.init_from=WORKDIR/student` fine-tunes like any of ours.
This module is entry-point logic (like bertlab/finetune.py): it reads other runs' workdirs.
"""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import ml_collections
import numpy as np
import optax

from bertlab.compress import artifact, distill_config, distill_setup
from bertlab.compress.distill import Distiller


@dataclasses.dataclass
class Parts:
  teacher: object
  teacher_params: dict
  student: object
  student_params: dict | None   # None: random init
  example: dict
  train_iter: object
  eval_batches: list
  export: callable               # (student params, workdir, step) -> summary dict


def _student(config, teacher_cfg, teacher_params, kind="classification", num_labels=2):
  s = config.student
  if s.init in distill_config.STUDENT_INITS:
    cfg = distill_setup.student_config(teacher_cfg, s)
    params = (distill_setup.teacher_layer_params(teacher_params, teacher_cfg, cfg)
              if s.init == "teacher" else None)
    return cfg, params
  cfg, params = distill_setup.pretrained_student(s.init, kind, num_labels, s)
  return cfg.replace(dtype=teacher_cfg.dtype), params


def _task_parts(config) -> Parts:
  from bertlab.compress.finetuned import finetune_config, load_finetuned, task_data
  from bertlab.compress.predict import predict_fn, predict_split
  from bertlab.tasks import evaluation
  from bertlab.tasks.finetune_data import model_batch

  spec, t_params = load_finetuned(config.teacher)
  ft = finetune_config(config.teacher)
  if config.num_train_examples:
    ft.num_train_examples = config.num_train_examples
  info, train, dev = task_data(ft, spec.tokenizer_dir)
  s_cfg, s_params = _student(config, spec.encoder, t_params, spec.kind, spec.num_labels)
  s_spec = dataclasses.replace(spec, encoder=s_cfg, notes={
      "distilled_from": os.path.abspath(config.teacher), "student_init": config.student.init})
  student = artifact.build_model(s_spec)
  b = config.batch_size
  evals = [model_batch(dev, np.arange(s, s + b), spec.kind)
           for s in range(0, len(dev) - b + 1, b)][:config.eval_batches]

  def export(params, workdir, step):
    out = os.path.join(workdir, "student")
    artifact.save(out, dataclasses.replace(s_spec, notes={**s_spec.notes, "step": step}),
                  params)
    logits = predict_split(predict_fn(student), params, dev, ft.eval_batch_size)
    scores, _ = evaluation.evaluate(info, dev, logits, ft)
    with open(os.path.join(out, "eval_results.json"), "w") as f:
      json.dump(scores, f, indent=2)
    return scores

  return Parts(artifact.build_model(spec), t_params, student, s_params,
               model_batch(train, np.zeros(b, np.int64), spec.kind),
               distill_setup.TaskBatches(train, spec.kind, b, config.total_steps, config.seed),
               evals, export)


def _mlm_parts(config) -> Parts:
  import orbax.checkpoint as ocp

  from bertlab.compress.finetuned import restore_numpy
  from bertlab.finetune_init import load_pretrained
  from bertlab.objectives.pretraining import MaskedLmModel
  from bertlab.train import build_data

  pre = load_pretrained(config.teacher, "classification", 2, weights=False)
  run_file = os.path.join(config.teacher, "config.json")
  with open(run_file) as f:
    run = ml_collections.ConfigDict(json.load(f))
  if "family" not in run or pre.family == "electra":
    raise ValueError(f"config.teacher: expected a train.py workdir of a family with an MLM head "
                     f"(bert, albert, roberta, spanbert); found {pre.source}.")
  ckpts = os.path.join(config.teacher, "checkpoints")
  steps = sorted((int(n) for n in os.listdir(ckpts) if n.isdigit()), reverse=True) \
      if os.path.isdir(ckpts) else []
  if not steps:
    raise FileNotFoundError(f"{ckpts}: expected the teacher's checkpoints; found none.")
  saved = restore_numpy(os.path.join(ckpts, str(steps[0]), "state"), ["params"])["params"]
  t_params = {"encoder": saved["encoder"], "mlm": saved["mlm"]}
  s_cfg, s_params = _student(config, pre.config, t_params)
  run.batch_size, run.seed, run.eval_batches = config.batch_size, config.seed, config.eval_batches
  run.data.tokenizer_dir = pre.tokenizer_dir
  run.data.cache_dir = run.data.cache_dir or os.path.join(config.teacher, "cache")
  _, train_iter, evals = build_data(run, config.teacher)
  if evals:
    first = evals[0]
  else:  # peek at one batch, then rewind: the loop must see the data from its start
    position = train_iter.get_state()
    first = next(train_iter)
    train_iter.set_state(position)

  def export(params, workdir, step):
    out = os.path.join(workdir, "student")
    model = {**s_cfg.to_dict(), "embedding_size": s_cfg.embedding_size or 0}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
      json.dump({"family": pre.family, "model": model,
                 "data": {"tokenizer_dir": os.path.abspath(pre.tokenizer_dir)},
                 "distilled_from": os.path.abspath(config.teacher)}, f, indent=2)
    state_dir = os.path.abspath(os.path.join(out, "checkpoints", str(step), "state"))
    ocp.PyTreeCheckpointer().save(state_dir, {"params": params}, force=True)
    return {"student": out, "step": step}

  example = {k: np.zeros((config.batch_size,) + v.shape[1:], v.dtype) for k, v in first.items()}
  return Parts(MaskedLmModel(pre.config), t_params, MaskedLmModel(s_cfg), s_params, example,
               train_iter, evals, export)


def _with_weights(steps, parts: Parts, echo):
  """steps.init, then the teacher's weights and the student's initial ones put in place."""
  from bertlab.finetune_init import merge_params

  init = steps.init

  def loaded():
    state = init()
    params = dict(jax.device_get(state.params))
    params["teacher"], missing = merge_params(params["teacher"], parts.teacher_params)
    if missing:
      raise ValueError(f"config.teacher: the checkpoint lacks teacher params {missing}.")
    if parts.student_params is not None:
      params["student"], fresh = merge_params(params["student"], parts.student_params)
      echo(f"student initialised fresh: {', '.join(fresh) or 'nothing'}")
    return state.replace(params=jax.device_put(params, steps.state_shardings.params))

  return loaded


def run(config, workdir: str, echo=print) -> dict:
  """Distils as `config` says, in `workdir` (resuming from its checkpoints)."""
  from bertlab.compress.magnitude import magnitude_pruning, sparsity_of
  from bertlab.training import loop, optimizers
  from bertlab.training import mesh as mesh_lib
  from bertlab.training import step as step_lib

  distill_config.validate(config)
  parts = _task_parts(config) if config.objective == "task" else _mlm_parts(config)
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  lo = config.loss
  model = Distiller(parts.teacher, parts.student, config.objective, lo.temperature,
                    lo.alpha_kd, lo.alpha_hard, lo.alpha_hidden)
  tx, schedule = optimizers.build(config.optimizer, config.total_steps)
  p = config.prune
  if p.final_sparsity:
    tx = optax.chain(tx, magnitude_pruning(p.final_sparsity, p.begin_step, p.end_step,
                                           p.frequency, p.initial_sparsity))
  mesh = mesh_lib.make_mesh(config.mesh_shape)
  steps = step_lib.build(model, distill_setup.freeze_teacher(tx), schedule, mesh,
                         parts.example, seed=config.seed)
  steps = dataclasses.replace(steps, init=_with_weights(steps, parts, echo))
  count = lambda k: sum(x.size for x in jax.tree_util.tree_leaves(steps.abstract_state.params[k]))
  echo(f"distil ({config.objective}): teacher {count('teacher') / 1e6:.2f}M -> student "
       f"{count('student') / 1e6:.2f}M parameters ({parts.student.config.num_layers} layers, "
       f"H {parts.student.config.hidden_size}, {parts.student.config.num_heads} heads); "
       f"student init: {config.student.init}")
  seq = parts.example["input_ids"].shape[1]
  state, _ = loop.run(steps=steps, train_iter=parts.train_iter, eval_batches=parts.eval_batches,
                      config=config, workdir=workdir, tokens_per_step=config.batch_size * seq,
                      echo=echo)
  student = jax.device_get(state.params["student"])
  summary = parts.export(student, workdir, int(state.step))
  if p.final_sparsity:
    summary = {**summary, "layer_sparsity": sparsity_of(student)}
  echo(f"student -> {os.path.join(workdir, 'student')}: "
       + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                   for k, v in summary.items()))
  return summary


def main(argv=None):
  import logging
  import sys

  from bertlab.training import cli

  argv = sys.argv if argv is None else argv
  fl = cli.parse(argv, config_help="config file (configs/distill/*.py)",
                 workdir_help="run directory (resumes if it holds checkpoints)",
                 usage="python distill.py --config configs/distill/CONFIG.py --workdir DIR "
                       "--config.teacher=WORKDIR [--config.KEY=VALUE ...]")
  logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
  return cli.run_or_exit(run, fl.config, fl.workdir)
