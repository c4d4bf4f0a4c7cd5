"""A task model on disk, compressed or not: `model.json` + `params.safetensors`.

safetensors holds int8 weights and their float32 scales as they are (no pickle, readable by
any framework), so the file's size is the model's size on disk. `model.json` says how to
rebuild the model: family, task, kind, labels, the encoder config (with `num_heads` and
`attention_head_size` after head pruning), the tokenizer's directory, and whether the params
are quantized (run them through `int8_inference`).
"""

from __future__ import annotations

import dataclasses
import json
import os

import jax
import numpy as np
from safetensors.numpy import load_file, save_file

from bertlab.compress.tree_paths import flatten, unflatten
from bertlab.encoder import EncoderConfig

MODEL_FILE = "model.json"
PARAMS_FILE = "params.safetensors"


@dataclasses.dataclass
class ModelSpec:
  """What rebuilds a task model: `family` picks the head layout (tasks.heads.FAMILY_HEADS)."""
  family: str
  task: str
  kind: str
  num_labels: int
  encoder: EncoderConfig
  tokenizer_dir: str
  classifier_dropout: float = 0.1
  quantized: bool = False
  notes: dict = dataclasses.field(default_factory=dict)  # how it was made (free-form)

  def to_json(self) -> dict:
    return {**dataclasses.asdict(self), "encoder": self.encoder.to_dict()}

  @classmethod
  def from_json(cls, d: dict) -> ModelSpec:
    return cls(**{**d, "encoder": EncoderConfig.from_dict(d["encoder"])})


def build_model(spec: ModelSpec):
  """The `TaskModel` of `spec` (params layout of HF's class for its family and kind)."""
  from bertlab.convert.task_heads import task_model

  return task_model(spec.encoder, spec.family, spec.kind, spec.num_labels,
                    spec.classifier_dropout)


def save(directory: str, spec: ModelSpec, params) -> int:
  """Writes `directory`/{model.json, params.safetensors}; returns the params file's bytes."""
  os.makedirs(directory, exist_ok=True)
  flat = {k: np.ascontiguousarray(np.asarray(jax.device_get(v)))
          for k, v in flatten(params).items()}
  path = os.path.join(directory, PARAMS_FILE)
  save_file(flat, path, metadata={"format": "bertlab", "quantized": str(spec.quantized)})
  with open(os.path.join(directory, MODEL_FILE), "w") as f:
    json.dump(spec.to_json(), f, indent=2)
  return os.path.getsize(path)


def is_artifact(directory: str) -> bool:
  return all(os.path.isfile(os.path.join(directory, n)) for n in (MODEL_FILE, PARAMS_FILE))


def load(directory: str) -> tuple[ModelSpec, dict]:
  """(spec, params as numpy) saved by `save`."""
  if not is_artifact(directory):
    found = sorted(os.listdir(directory)) if os.path.isdir(directory) else "no such directory"
    raise FileNotFoundError(f"{directory}: expected {MODEL_FILE} and {PARAMS_FILE} (written by "
                            f"bertlab.compress.artifact.save); found {found}.")
  with open(os.path.join(directory, MODEL_FILE)) as f:
    spec = ModelSpec.from_json(json.load(f))
  return spec, unflatten(load_file(os.path.join(directory, PARAMS_FILE)))
