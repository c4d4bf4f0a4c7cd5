"""Hugging Face task models <-> `TaskModel` params ({"encoder": ..., "head": ...}).

The encoder goes through `hf.py`'s tables; the heads add their own `TensorSpec`s:
  *ForSequenceClassification  BERT/ALBERT `classifier` (on the pooler) -> head/out;
                              RoBERTa/ELECTRA `classifier.dense`, `classifier.out_proj`
                              -> head/dense, head/out
  *ForTokenClassification     `classifier` -> head/out
  *ForQuestionAnswering       `qa_outputs` (start, end) -> head/out
A checkpoint without head tensors (a pretrained encoder) loads with head=None: the head is
then initialised fresh, as transformers does.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bertlab.convert import checkpoint_io
from bertlab.convert.hf import encoder_from_hf, encoder_state_from_params, module_specs
from bertlab.convert.hf import params_from_state, state_from_params
from bertlab.encoder import EncoderConfig
from bertlab.tasks.heads import family_head
from bertlab.tasks.models import TaskModel, make_head

# (task kind, head style) -> (HF module, our path under head/, module kind).
HEAD_MODULES = {
    ("sentence", "pooled"): (("classifier", ("out",), "dense"),),
    ("sentence", "cls_mlp"): (("classifier.dense", ("dense",), "dense"),
                              ("classifier.out_proj", ("out",), "dense")),
    ("token_classification", None): (("classifier", ("out",), "dense"),),
    ("span", None): (("qa_outputs", ("out",), "dense"),),
}
# HF architecture suffix of each task kind.
HF_CLASSES = {"classification": "ForSequenceClassification",
              "regression": "ForSequenceClassification",
              "token_classification": "ForTokenClassification",
              "span": "ForQuestionAnswering"}


def head_specs(kind: str, style: str | None):
  """TensorSpecs of the head of `kind` ('classification', ..., see models.KINDS)."""
  key = ("sentence", style) if kind in ("classification", "regression") else (kind, None)
  if key not in HEAD_MODULES:
    raise ValueError(f"no HF head layout for task kind {kind!r} with style {style!r}; "
                     f"expected one of {sorted(HEAD_MODULES, key=str)}.")
  specs = []
  for hf_module, ours, module_kind in HEAD_MODULES[key]:
    specs += module_specs(hf_module, ours, module_kind)
  return specs


def task_model(config: EncoderConfig, model_type: str, kind: str, num_labels: int,
               classifier_dropout: float = 0.1) -> TaskModel:
  """The `TaskModel` whose layout matches HF's class for `model_type` and `kind`."""
  style, act = family_head(model_type)
  # Only the BERT-style sentence head reads the pooler.
  pooler = kind in ("classification", "regression") and style == "pooled"
  return TaskModel(config.replace(use_pooler=pooler), kind, num_labels, style, act,
                   classifier_dropout)


def head_param_shapes(model: TaskModel) -> dict:
  """The head's param tree as ShapeDtypeStructs (nothing is initialised)."""
  h = model.config.hidden_size
  hidden, pooled = jnp.zeros((1, 2, h)), jnp.zeros((1, h))
  # The head alone: tracing the whole model (its layer scan) would take far longer.
  abstract = jax.eval_shape(lambda: make_head(model).init(jax.random.key(0), hidden, pooled))
  return nn.unbox(abstract["params"])


def head_params_from_state(state: dict, model: TaskModel, model_type: str):
  """(head params, problems): HF head tensors -> our head tree; problems lists what is
  missing or mis-shaped (a checkpoint without any head tensor gives (None, []))."""
  specs = head_specs(model.kind, model.head_style)
  if not any(s.hf in state for s in specs):
    return None, []
  params, problems, _ = params_from_state(state, specs, head_param_shapes(model))
  return (None if problems else params), problems


def task_params_from_hf(hf_config: dict, state: dict, kind: str, num_labels: int | None = None,
                        classifier_dropout: float = 0.1):
  """(TaskModel, params, head_problems) from a parsed config.json and state dict.

  num_labels: the task's; None takes config.json's (`num_labels` or `id2label`). When the
  checkpoint's head does not fit (no head, other class count), params['head'] is None and
  `head_problems` says why; the caller initialises a fresh head.
  """
  model_type = hf_config["model_type"]
  if num_labels is None:
    num_labels = int(hf_config.get("num_labels") or len(hf_config.get("id2label") or {}) or 2)
  config, encoder, _ = encoder_from_hf(hf_config, state)
  model = task_model(config, model_type, kind, num_labels, classifier_dropout)
  if model.config.use_pooler and not config.use_pooler:
    # No pooler in the checkpoint (e.g. from *ForMaskedLM): the caller initialises it.
    encoder = dict(encoder)
  elif not model.config.use_pooler:
    encoder = {k: v for k, v in encoder.items() if k != "pooler"}
  head, problems = head_params_from_state(state, model, model_type)
  return model, {"encoder": encoder, "head": head}, problems


def load_task_model(path: str, kind: str, num_labels: int | None = None,
                    classifier_dropout: float = 0.1):
  """`task_params_from_hf` for the local HF checkpoint directory `path`."""
  hf_config = checkpoint_io.read_config(path)
  state = checkpoint_io.read_state(path)
  try:
    return task_params_from_hf(hf_config, state, kind, num_labels, classifier_dropout)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from e


def task_state_from_params(params: dict, model: TaskModel,
                           model_type: str) -> dict[str, np.ndarray]:
  """HF tensors of `{Family}{HF_CLASSES[kind]}` from our params (for export and tests)."""
  state = encoder_state_from_params(params["encoder"], model.config, model_type,
                                    prefix=model_type + ".")
  state.update(state_from_params(params["head"], head_specs(model.kind, model.head_style)))
  return state
