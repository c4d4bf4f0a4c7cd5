"""A model of ours with what it takes to use or write it: the `Bundle` every reader returns.

Readers: `from_hf.bundle_from_hf` (a Hugging Face directory), `ours.load_ours` (our layout,
`python -m bertlab.convert import`), `workdir.bundle_from_workdir` (our training runs);
`sources.load_bundle` picks one. Writers: `ours.save_ours`, `export.export_bundle`.

A model is described in JSON by its class name and its dataclass fields (`describe`), so
that our layout can rebuild it (`build`) without pickling anything.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from bertlab.encoder import Encoder, EncoderConfig
from bertlab.objectives.electra import ElectraForPretraining
from bertlab.objectives.pretraining import (AlbertForPretraining, BertForPretraining,
                                            MaskedLmModel, RobertaForPretraining,
                                            SpanBertForPretraining, zeros_like_batch)
from bertlab.tasks.models import TaskModel

FAMILIES = ("bert", "albert", "roberta", "electra", "spanbert")
CLASSES = {c.__name__: c for c in (Encoder, MaskedLmModel, BertForPretraining,
                                   AlbertForPretraining, RobertaForPretraining,
                                   SpanBertForPretraining, ElectraForPretraining, TaskModel)}
HALVES = ("generator", "discriminator")


@dataclasses.dataclass
class Bundle:
  """family: one of FAMILIES. model: an Encoder, a pretraining model or a TaskModel.
  params: its param tree (numpy or jax arrays, float32). tokenizer_dir: a directory of
  tokenizer files (None: the checkpoint has none). labels: class names of a classifier.
  halves: the ELECTRA halves the params hold (a lone HF generator or discriminator holds one).
  notes: lines for the summary (what was mapped, ignored or dropped)."""

  family: str
  model: nn.Module
  params: dict
  tokenizer_dir: str | None = None
  labels: list[str] | None = None
  halves: tuple[str, ...] = HALVES
  source: str = ""
  notes: list[str] = dataclasses.field(default_factory=list)

  def __post_init__(self):
    self.params = nn.unbox(self.params)  # `model.init` boxes leaves with their logical axes
    if self.family not in FAMILIES:
      raise ValueError(f"Bundle.family: expected one of {FAMILIES}; found {self.family!r}")
    if type(self.model).__name__ not in CLASSES:
      raise ValueError(f"Bundle.model: expected one of {sorted(CLASSES)}; found "
                       f"{type(self.model).__name__}")

  @property
  def encoder_config(self) -> EncoderConfig:
    """The config of the encoder that `encode` runs (ELECTRA: the discriminator's, unless
    only the generator is present)."""
    if isinstance(self.model, ElectraForPretraining) and "discriminator" not in self.halves:
      return self.model.generator_config
    return self.model.config


def describe(model: nn.Module) -> dict:
  """JSON-able {"class": name, field: value}; EncoderConfigs become dicts."""
  name = type(model).__name__
  if name not in CLASSES:
    raise ValueError(f"cannot describe a {name}; expected one of {sorted(CLASSES)}")
  out = {"class": name}
  for f in dataclasses.fields(model):
    if f.name in ("parent", "name") or isinstance(getattr(model, f.name), nn.Module):
      continue
    value = getattr(model, f.name)
    if value is None and f.name == "shared_embeddings":
      continue
    out[f.name] = value.to_dict() if isinstance(value, EncoderConfig) else value
  return out


def build(description: dict) -> nn.Module:
  """The inverse of `describe`."""
  d = dict(description)
  name = d.pop("class", None)
  if name not in CLASSES:
    raise ValueError(f"model class {name!r}: expected one of {sorted(CLASSES)}; the file was "
                     "written by another bertlab version or edited by hand")
  cls = CLASSES[name]
  fields = {f.name: f for f in dataclasses.fields(cls)}
  unknown = sorted(set(d) - set(fields))
  if unknown:
    raise ValueError(f"{name} has no field(s) {unknown}; expected some of "
                     f"{sorted(k for k in fields if k not in ('parent', 'name'))}")
  for key in ("config", "generator_config"):
    if key in d:
      d[key] = EncoderConfig.from_dict(d[key])
  return cls(**d)


def param_shapes(model: nn.Module, halves: tuple[str, ...] = HALVES) -> dict:
  """The params `model` holds as ShapeDtypeStructs, without initialising anything.

  For ElectraForPretraining only `halves` (and the shared embeddings) are included.
  """
  ids = jnp.zeros((1, 2), jnp.int32)
  rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1),
          "sampling": jax.random.key(2)}
  if isinstance(model, ElectraForPretraining):
    tree = {}
    for half in halves:
      abstract = jax.eval_shape(lambda h=half: model.init(rngs, ids, method=f"{h}_logits"))
      tree.update(nn.unbox(abstract["params"]))
    return tree
  if isinstance(model, MaskedLmModel):
    init = lambda: model.init(rngs, zeros_like_batch(1, 2, 1))  # every head, SBO included
  elif isinstance(model, TaskModel):
    init = lambda: model.init(rngs, ids, method=TaskModel.logits)
  else:
    init = lambda: model.init(rngs, ids)
  return nn.unbox(jax.eval_shape(init)["params"])


def flatten(tree: dict, prefix: str = "") -> dict:
  """{"a/b/c": leaf} of a nested dict."""
  out = {}
  for k, v in tree.items():
    if isinstance(v, dict):
      out.update(flatten(v, f"{prefix}{k}/"))
    else:
      out[prefix + k] = v
  return out


def unflatten(flat: dict) -> dict:
  tree = {}
  for path, v in flat.items():
    node = tree
    *parents, leaf = path.split("/")
    for k in parents:
      node = node.setdefault(k, {})
    node[leaf] = v
  return tree


def check_params(params: dict, shapes: dict, where: str):
  """Raises one ValueError listing every missing, unexpected or mis-shaped leaf."""
  have, want = flatten(params), flatten(shapes)
  problems = [f"missing    {k}: expected shape {tuple(want[k].shape)}"
              for k in sorted(set(want) - set(have))]
  problems += [f"unexpected {k}: shape {tuple(have[k].shape)}"
               for k in sorted(set(have) - set(want))]
  shape = lambda tree, k: tuple(tree[k].shape)
  problems += [f"mis-shaped {k}: expected {shape(want, k)}, found {shape(have, k)}"
               for k in sorted(set(have) & set(want)) if shape(have, k) != shape(want, k)]
  if problems:
    raise ValueError(f"{where}: the params do not match the model's description; "
                     f"{len(problems)} problem(s):\n  " + "\n  ".join(problems[:40])
                     + ("\n  ..." if len(problems) > 40 else "")
                     + "\nThe file is incomplete or belongs to another model: write it again.")
