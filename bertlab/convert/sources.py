"""Any checkpoint directory -> `Bundle`: our layout, our runs, or a Hugging Face directory."""

from __future__ import annotations

import json
import os

from bertlab.convert.bundle import Bundle

KINDS_OF_DIRECTORY = (
    "our converted layout (bertlab.json + params.safetensors, from `python -m bertlab.convert "
    "import`)",
    "a pretraining workdir (config.json with `family` + checkpoints/)",
    "a fine-tuning workdir (config.json with `task` + seed_S/checkpoint)",
    "a Hugging Face directory (config.json with `model_type` + model.safetensors or "
    "pytorch_model.bin), or one with generator/ and discriminator/ (ELECTRA)",
)


def load_bundle(path: str, *, encoder_only: bool = False, step: int | None = None,
                seed: int | None = None) -> Bundle:
  """Reads `path`, whichever of KINDS_OF_DIRECTORY it is.

  encoder_only: for HF directories, keep the encoder of any class and drop its heads.
  step / seed: which checkpoint of a pretraining / fine-tuning run (default: the newest
  readable step; the median seed).
  """
  from bertlab.convert import from_hf, ours, workdir

  path = os.fspath(path)
  if not os.path.isdir(path):
    what = "is a file, not a directory" if os.path.exists(path) else "does not exist"
    raise FileNotFoundError(f"{path} {what}: expected one of\n  - "
                            + "\n  - ".join(KINDS_OF_DIRECTORY))
  if ours.is_ours(path):
    return ours.load_ours(path)
  if workdir.is_pretraining_run(path) or workdir.is_finetuning_run(path):
    return workdir.bundle_from_workdir(path, step=step, seed=seed)
  config = os.path.join(path, "config.json")
  if from_hf.is_electra_pair(path) or _has_key(config, "model_type"):
    return from_hf.bundle_from_hf(path, encoder_only=encoder_only)
  found = sorted(os.listdir(path))
  raise FileNotFoundError(f"{path} is not a checkpoint bertlab reads: found "
                          f"{found[:20] or 'an empty directory'}; expected one of\n  - "
                          + "\n  - ".join(KINDS_OF_DIRECTORY))


def _has_key(file: str, key: str) -> bool:
  if not os.path.isfile(file):
    return False
  try:
    with open(file, encoding="utf-8") as f:
      return key in json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError, TypeError):
    return True  # an HF reader will report the broken file with its own words
