"""A `finetune.py` workdir as the model to compress: its spec, its params and its data.

The workdir's config.json names the task, the data (with any held-out dev split, which is
re-drawn identically: `tasks.finetune_data.holdout` is seeded) and `init_from`, which gives
the family, encoder config and tokenizer. The params are those of the median seed's selected
checkpoint (seed_S/checkpoint), or of `seed` when given.
"""

from __future__ import annotations

import json
import os

import jax
import ml_collections
import numpy as np

from bertlab.compress.artifact import ModelSpec


def _read_json(path: str) -> dict:
  with open(path) as f:
    return json.load(f)


def finetune_config(workdir: str) -> ml_collections.ConfigDict:
  """The run's config (config.json), as the ConfigDict `finetune.py` ran with."""
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path) or not os.path.isfile(os.path.join(workdir, "eval_results.json")):
    found = sorted(os.listdir(workdir)) if os.path.isdir(workdir) else "no such directory"
    raise FileNotFoundError(f"{workdir}: expected a finished finetune.py workdir (config.json, "
                            f"eval_results.json, seed_S/checkpoint); found {found}.")
  return ml_collections.ConfigDict(_read_json(path))


def restore_numpy(directory: str, keys=None) -> dict:
  """An orbax pytree checkpoint as numpy arrays, whole or only its top-level `keys`."""
  import orbax.checkpoint as ocp

  directory = os.path.abspath(directory)  # orbax reads no metadata through a relative path
  checkpointer = ocp.PyTreeCheckpointer()
  meta = checkpointer.metadata(directory)
  tree = getattr(getattr(meta, "item_metadata", meta), "tree", None) or meta
  if keys is not None:
    missing = [k for k in keys if k not in tree]
    if missing:
      raise ValueError(f"{directory}: expected {list(keys)} in the checkpoint; it holds "
                       f"{sorted(tree)}.")
    tree = {k: tree[k] for k in keys}
  item = jax.tree_util.tree_map(lambda m: np.zeros(m.shape, m.dtype), tree)
  args = jax.tree_util.tree_map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), item)
  return checkpointer.restore(directory, args=ocp.args.PyTreeRestore(
      item=item, restore_args=args, partial_restore=keys is not None))


def load_finetuned(workdir: str, seed: int | None = None) -> tuple[ModelSpec, dict]:
  """(spec, params as numpy) of the fine-tuned model in `workdir`."""
  from bertlab.finetune_init import load_pretrained
  from bertlab.tasks.finetune_data import task_info

  config = finetune_config(workdir)
  info = task_info(config.task)
  pre = load_pretrained(config.init_from, info.kind, info.num_labels, weights=False)
  encoder = pre.config.replace(dtype=config.dtype)
  for field in ("hidden_dropout", "attention_dropout"):  # as finetune.py overrode them
    if config.get(field) is not None:
      encoder = encoder.replace(**{field: config[field]})
  if seed is None:
    seeds_file = os.path.join(workdir, "eval_results_seeds.json")
    seed = _read_json(seeds_file)["median_seed"] if os.path.isfile(seeds_file) else \
        int(config.seeds[0])
  checkpoint = os.path.abspath(os.path.join(workdir, f"seed_{seed}", "checkpoint"))
  if not os.path.isdir(checkpoint):
    raise FileNotFoundError(f"{checkpoint}: expected the selected params of seed {seed}; run "
                            "finetune.py with save_checkpoint=True.")
  params = restore_numpy(checkpoint)
  # A CoNLL run may have trained on the data's own tag set: the saved head says how many.
  num_labels = int(np.shape(params["head"]["out"]["kernel"])[-1])
  spec = ModelSpec(family=pre.family, task=config.task, kind=info.kind, num_labels=num_labels,
                   encoder=encoder, tokenizer_dir=pre.tokenizer_dir,
                   classifier_dropout=config.classifier_dropout,
                   notes={"source": f"finetune.py workdir {os.path.abspath(workdir)}, "
                                    f"seed {seed}"})
  return spec, params


def task_data(config: ml_collections.ConfigDict, tokenizer_dir: str):
  """(TaskInfo, train Split, dev Split) exactly as `finetune.py` built them for `config`."""
  from bertlab.finetune import load_data
  from bertlab.tasks.text_tokenizer import load_text_tokenizer

  tokenizer, pad = load_text_tokenizer(tokenizer_dir)
  return load_data(config, tokenizer, pad)
