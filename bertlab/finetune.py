"""Fine-tuning entry point: config -> pretrained encoder + task data -> one run per seed.

  python finetune.py --config configs/finetune/sst2.py --workdir runs/sst2 \
      --config.init_from=PATH [--config.train_file=FILE --config.eval_file=FILE ...]

Each seed trains with its own head initialisation, dropout and data order, evaluates after
every epoch (or every `eval_every_steps`) and keeps the evaluation with the best first task
metric. WORKDIR gets:
  eval_results.json        the task metrics, median over seeds
  eval_results_seeds.json  every seed's metrics and best step
  predictions.*            the predictions of the median seed (jsonl, conll or SQuAD json)
  seed_S/                  that seed's metrics.jsonl, eval_results.json, predictions.*, and
                           checkpoint/ (the selected params, orbax)
  config.json
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys

import numpy as np

from bertlab import finetune_config as config_lib

log = logging.getLogger("bertlab")


def load_data(config, tokenizer, pad_token):
  """(TaskInfo, train Split, eval Split) as the config says."""
  from bertlab.tasks import finetune_data as fd

  info = fd.task_info(config.task)
  source = dict(tfds_name=config.tfds_name, data_dir=config.tfds_data_dir,
                conll_scheme=config.conll_scheme)
  train = fd.read_examples(info, config.train_file, "train_file", split=config.train_split,
                           **source)
  if config.holdout_fraction:
    train, dev = fd.holdout(train, config.holdout_fraction)
  else:
    dev = fd.read_examples(info, config.eval_file, "eval_file", split=config.eval_split,
                           **source)
  if config.num_train_examples:
    train = train[:config.num_train_examples]
  if config.select_fraction:  # model selection: the eval split stays unseen
    train, dev = fd.holdout(train, config.select_fraction, seed=1)
  elif config.num_eval_examples:
    dev = dev[:config.num_eval_examples]
  if info.source == "conll":
    info = fd.with_tags(info, train + dev)
  return (info, fd.build_split(train, info, tokenizer, pad_token, config, "train"),
          fd.build_split(dev, info, tokenizer, pad_token, config, "eval"))


def _median_index(values: list[float]) -> int:
  order = np.argsort(np.nan_to_num(np.asarray(values, np.float64), nan=-np.inf), kind="stable")
  return int(order[(len(values) - 1) // 2])


def run(config, workdir: str, echo=print) -> dict:
  """Fine-tunes as `config` says; returns the eval_results.json dict."""
  from bertlab.convert.task_heads import task_model
  from bertlab.finetune_init import load_pretrained, with_vocab_multiple
  from bertlab.finetune_seed import train_seed
  from bertlab.tasks.finetune_data import task_info
  from bertlab.tasks.text_tokenizer import load_text_tokenizer
  from bertlab.training import mesh as mesh_lib

  config_lib.validate(config)
  info = task_info(config.task)
  pre = load_pretrained(config.init_from, info.kind, info.num_labels,
                        weights=not config.random_init)
  tokenizer, pad = load_text_tokenizer(pre.tokenizer_dir)
  num_labels = info.num_labels
  info, train, dev = load_data(config, tokenizer, pad)
  if info.num_labels != num_labels and pre.params is not None:
    pre.params["head"] = None  # the data's own tag set: a checkpoint's head cannot fit it
  if config.vocab_multiple:
    pre = with_vocab_multiple(pre, config.vocab_multiple)
  enc = pre.config.replace(dtype=config.dtype)
  for field in ("hidden_dropout", "attention_dropout"):
    if config[field] is not None:
      enc = enc.replace(**{field: config[field]})
  if config.max_seq_len > enc.max_length:
    raise ValueError(f"config.max_seq_len: expected at most the encoder's {enc.max_length} "
                     f"positions; found {config.max_seq_len}.")
  top_id = int(max(train.inputs["input_ids"].max(), dev.inputs["input_ids"].max()))
  if top_id >= enc.vocab_size:
    raise ValueError(f"the tokenizer in {pre.tokenizer_dir} gives id {top_id}, beyond the "
                     f"encoder's vocab_size {enc.vocab_size}: the tokenizer does not belong "
                     "to this checkpoint.")
  model = task_model(enc, pre.family, info.kind, info.num_labels, config.classifier_dropout)
  total_steps = config.total_steps or math.ceil(config.num_epochs * len(train) / config.batch_size)
  echo(f"{config.task}: {pre.source}; {len(train)} train / {len(dev)} eval inputs "
       f"(max_seq_len {config.max_seq_len}); {total_steps} steps of batch {config.batch_size} "
       f"per seed, seeds {tuple(config.seeds)}")

  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  mesh = mesh_lib.make_mesh(config.mesh_shape)
  results, compiled = [], {}
  for seed in config.seeds:
    results.append(train_seed(model, pre.params, info, train, dev, config, total_steps,
                              int(seed), mesh, os.path.join(workdir, f"seed_{seed}"), echo,
                              compiled))

  main = info.metrics[0]
  summary = {k: float(np.median([r["metrics"][k] for r in results]))
             for k in results[0]["metrics"]}
  mid = results[_median_index([r["metrics"][main] for r in results])]
  per_seed = {str(r["seed"]): {**r["metrics"], "best_step": r["best_step"]} for r in results}
  with open(os.path.join(workdir, "eval_results.json"), "w") as f:
    json.dump(summary, f, indent=2)
  with open(os.path.join(workdir, "eval_results_seeds.json"), "w") as f:
    json.dump({"median": summary, "median_seed": mid["seed"], "seeds": per_seed}, f, indent=2)
  ext = os.path.splitext(mid["predictions"])[1]
  shutil.copyfile(mid["predictions"], os.path.join(workdir, "predictions" + ext))
  shown = ", ".join(f"{k} {v:.4f}" for k, v in summary.items())
  echo(f"{config.task}: median over {len(results)} seed(s): {shown} -> "
       f"{os.path.join(workdir, 'eval_results.json')}")
  return summary


def main(argv=None):
  from bertlab.training import cli

  argv = sys.argv if argv is None else argv
  fl = cli.parse(argv, config_help="config file (configs/finetune/TASK.py)",
                 workdir_help="output directory",
                 usage="python finetune.py --config configs/finetune/TASK.py --workdir DIR "
                       "--config.init_from=PATH [--config.KEY=VALUE ...]")
  logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
  logging.getLogger("absl").setLevel(logging.WARNING)  # orbax logs every save step at INFO
  return cli.run_or_exit(run, fl.config, fl.workdir)


if __name__ == "__main__":
  sys.exit(main())
