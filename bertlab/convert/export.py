"""Ours -> a Hugging Face directory: config.json (with `architectures`), model.safetensors and
the tokenizer's files, which `transformers` `from_pretrained` loads as they are.

  Encoder                        {Family}Model
  BertForPretraining             BertForPreTraining (MLM + NSP)
  AlbertForPretraining           AlbertForPreTraining (MLM + SOP)
  RobertaForPretraining          RobertaForMaskedLM (no pooler: the MLM objective never trains it)
  SpanBertForPretraining         BertForMaskedLM: the encoder and MLM head. transformers has no
                                 class for the span boundary (SBO) head, so it is left out, as is
                                 the untrained pooler; config.json says bertlab_family=spanbert
  ElectraForPretraining          OUT/generator (ElectraForMaskedLM) + OUT/discriminator
                                 (ElectraForPreTraining), each with the shared embeddings
  TaskModel                      {Family}ForSequenceClassification / ForTokenClassification /
                                 ForQuestionAnswering, with id2label
Tied tensors (MLM decoder = word embeddings) are left out, as `save_pretrained` does; a padded
vocabulary (`vocab_multiple`) is cut back to `vocab_size` rows.
"""

from __future__ import annotations

import json
import os
import re
import tempfile

import numpy as np

from bertlab.convert import heads, task_heads
from bertlab.convert.bundle import Bundle
from bertlab.convert.from_hf import FAMILY_FIELD
from bertlab.convert.hf import encoder_state_from_params
from bertlab.convert.hf_config import hf_config_from_encoder
from bertlab.convert.ours import copy_tokenizer, has_tokenizer
from bertlab.convert.vocab_padding import with_vocab_multiple
from bertlab.encoder import Encoder
from bertlab.objectives.electra import ElectraForPretraining
from bertlab.objectives.pretraining import MaskedLmModel
from bertlab.tasks.heads import family_head
from bertlab.tasks.models import TaskModel

WEIGHTS = "model.safetensors"
_CLASS = {"bert": "Bert", "albert": "Albert", "roberta": "Roberta", "electra": "Electra"}
# (HF model_type, sentence-pair task) -> the HF class holding an MLM model.
_MLM_CLASSES = {("bert", "nsp"): "BertForPreTraining", ("albert", "sop"): "AlbertForPreTraining",
                ("bert", None): "BertForMaskedLM", ("albert", None): "AlbertForMaskedLM",
                ("roberta", None): "RobertaForMaskedLM"}


def to_hf(model, params: dict, out: str, *, family: str, tokenizer=None,
          labels: list[str] | None = None) -> list[str]:
  """Writes our in-memory `model` + `params` as an HF directory `out`; returns summary lines.

  family: bert, albert, roberta, electra or spanbert. tokenizer: a
  `bertlab.data.tokenizers.Tokenizer`, a directory of tokenizer files, or None.
  labels: class names of a classification TaskModel (default LABEL_i).
  """
  if tokenizer is not None and not isinstance(tokenizer, (str, os.PathLike)):
    with tempfile.TemporaryDirectory() as tmp:  # its files, then copied like any directory's
      tokenizer.save(tmp)
      return to_hf(model, params, out, family=family, tokenizer=tmp, labels=labels)
  tokenizer_dir = os.fspath(tokenizer) if tokenizer is not None else None
  return export_bundle(Bundle(family, model, params, tokenizer_dir, labels), out)


def export_bundle(bundle: Bundle, out: str) -> list[str]:
  """Writes `bundle` as one HF directory (ELECTRA pair: out/generator, out/discriminator).
  A padded vocabulary (vocab_multiple) is written at its real size, as transformers expects."""
  bundle = with_vocab_multiple(bundle, 1)
  model = bundle.model
  lines = [f"{bundle.family} {type(model).__name__} -> {out}"] + [
      f"  source: {n}" for n in bundle.notes]
  if isinstance(model, ElectraForPretraining):
    pair = set(bundle.halves) == {"generator", "discriminator"}
    for half, arch in (("generator", "ElectraForMaskedLM"),
                       ("discriminator", "ElectraForPreTraining")):
      if half in bundle.halves:
        config = model.generator_config if half == "generator" else model.config
        state = heads.pretraining_state_from_params(arch, model, bundle.params)
        lines += _write(bundle, os.path.join(out, half) if pair else out, arch, config, state)
    if pair:
      lines.append("  ELECTRA: generator/ and discriminator/ each carry the shared embeddings; "
                   "read both back with `bertlab.load(OUT)` or `load_electra_pair`")
    return lines
  if isinstance(model, MaskedLmModel):
    return lines + _export_mlm(bundle, out)
  if isinstance(model, TaskModel):
    return lines + _export_task(bundle, out)
  if isinstance(model, Encoder):
    model_type = _model_type(bundle.family)
    state = encoder_state_from_params(bundle.params, model.config, model_type)
    if not model.config.use_pooler and model_type != "electra":
      lines.append(f"  note: the encoder has no pooler; transformers initialises "
                   f"{_CLASS[model_type]}Model's at random (ignore its pooler_output)")
    return lines + _write(bundle, out, f"{_CLASS[model_type]}Model", model.config, state)
  raise ValueError(f"cannot export a {type(model).__name__}; expected an Encoder, a pretraining "
                   "model or a TaskModel")


def _export_mlm(bundle: Bundle, out: str) -> list[str]:
  model, params, model_type = bundle.model, dict(bundle.params), _model_type(bundle.family)
  pair = model.pair_task
  arch = _MLM_CLASSES.get((model_type, pair))
  if arch is None:
    raise ValueError(f"no Hugging Face class holds a {model_type} MLM model with pair task "
                     f"{pair!r}; expected one of {sorted(_MLM_CLASSES, key=str)}")
  target = heads.ARCHITECTURES[arch]
  lines, encoder = [], dict(params["encoder"])
  if model.span_boundary:
    params.pop("sbo", None)
    lines.append("  dropped: SpanBERT's span boundary (SBO) head: transformers has no class "
                 f"for it, so {arch} holds the encoder and MLM head only")
  if not target.pooler and "pooler" in encoder:
    del encoder["pooler"]
    lines.append(f"  dropped: the pooler ({arch} has none; the MLM objective never trains it)")
  config = model.config.replace(use_pooler=target.pooler)
  as_hf = target.model_class(config)
  kept = {"encoder": encoder, "mlm": params["mlm"], **({"pair": params["pair"]} if pair else {})}
  state = heads.pretraining_state_from_params(arch, as_hf, kept)
  return lines + _write(bundle, out, arch, config, state)


def _export_task(bundle: Bundle, out: str) -> list[str]:
  model, model_type = bundle.model, _model_type(bundle.family)
  style, act = family_head(bundle.family)
  if model.kind in ("classification", "regression") and (model.head_style, model.head_activation
                                                         ) != (style, act):
    raise ValueError(f"a {bundle.family} HF classifier has head style {style!r} ({act}); this "
                     f"TaskModel has {model.head_style!r} ({model.head_activation}): export it "
                     "as the family whose head it has")
  arch = _CLASS[model_type] + task_heads.HF_CLASSES[model.kind]
  state = task_heads.task_state_from_params(bundle.params, model, model_type)
  extra = {}
  if model.kind != "span":
    labels = bundle.labels or [f"LABEL_{i}" for i in range(model.num_labels)]
    if len(labels) != model.num_labels:
      raise ValueError(f"labels: expected {model.num_labels} names; found {len(labels)}")
    extra = dict(num_labels=model.num_labels, id2label=dict(enumerate(labels)),
                 label2id={n: i for i, n in enumerate(labels)},
                 classifier_dropout=model.classifier_dropout)
    if model.kind != "token_classification":
      extra["problem_type"] = ("regression" if model.kind == "regression"
                               else "single_label_classification")
  return _write(bundle, out, arch, model.config, state, extra)


def _write(bundle: Bundle, out: str, arch: str, config, state: dict, extra=None) -> list[str]:
  from safetensors.numpy import save_file

  model_type = _model_type(bundle.family)
  hf = dict(hf_config_from_encoder(config, model_type), architectures=[arch], **(extra or {}))
  if bundle.family != model_type:
    hf[FAMILY_FIELD] = bundle.family
  os.makedirs(out, exist_ok=True)
  state = {k: np.ascontiguousarray(v, np.float32) for k, v in state.items()}
  # transformers reads safetensors only with this metadata.
  save_file(state, os.path.join(out, WEIGHTS), metadata={"format": "pt"})
  with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
    json.dump(hf, f, indent=2)
  n = sum(v.size for v in state.values())
  lines = [f"  {arch}: {len(state)} tensors ({n:,} parameters) -> {out}/{WEIGHTS}, config.json",
           "    mapped: " + ", ".join(f"{g} ({c})" for g, c in _groups(state).items())]
  if has_tokenizer(bundle.tokenizer_dir):
    names = copy_tokenizer(bundle.tokenizer_dir, out)
    if "tokenizer_config.json" not in names:
      _write_tokenizer_config(out, config.max_length)
      names.append("tokenizer_config.json")
    lines.append(f"    tokenizer: {', '.join(names)}")
  else:
    lines.append("    tokenizer: none given; copy its files (vocab.txt, ...) in by hand")
  return lines


def _write_tokenizer_config(out: str, max_length: int):
  """tokenizer_config.json with the casing transformers cannot guess from a vocab file."""
  from bertlab.data.tokenizers import Tokenizer

  tokenizer = Tokenizer.load(out)
  cfg = {"model_max_length": max_length}
  if tokenizer.kind == "wordpiece":
    cfg.update(do_lower_case=tokenizer.lowercase, strip_accents=tokenizer.strip_accents)
  elif tokenizer.kind == "bpe":  # RoBERTa's <mask> takes the space before it, as fill_mask does
    cfg["mask_token"] = {"__type": "AddedToken", "content": "<mask>", "lstrip": True,
                         "rstrip": False, "normalized": False, "single_word": False,
                         "special": True}
  elif tokenizer.kind == "sentencepiece":
    cfg.update(do_lower_case=tokenizer.lowercase, keep_accents=not tokenizer.strip_accents,
               remove_space=True)
  with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
    json.dump(cfg, f, indent=2)


def _model_type(family: str) -> str:
  return "bert" if family == "spanbert" else family


def _groups(state: dict) -> dict[str, int]:
  """Tensor counts per module, layer numbers collapsed: {"bert.encoder.layer.*": 32, ...}."""
  counts: dict[str, int] = {}
  for name in sorted(state):
    parts = name.split(".")
    digit = next((i for i, p in enumerate(parts) if re.fullmatch(r"\d+", p)), None)
    key = ".".join(parts[:digit] + ["*"]) if digit is not None else ".".join(parts[:2])
    counts[key] = counts.get(key, 0) + 1
  return counts
