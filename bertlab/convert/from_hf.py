"""A local Hugging Face checkpoint directory -> `Bundle`, its class read from config.json.

  *ForPreTraining, *ForMaskedLM        a pretraining model with its heads (heads.ARCHITECTURES)
  *ForSequenceClassification, ...      a TaskModel with its head (task_heads.HF_CLASSES)
  {Bert,Albert,Roberta,Electra}Model   the encoder alone; so is any class when encoder_only
  DIR/generator + DIR/discriminator    ELECTRA's two halves, coupled (what `export` writes)

A checkpoint saved as *ForMaskedLM that still holds its NSP/SOP head (bert-base-uncased's
weights do) is read as *ForPreTraining, so that no tensor is dropped.
"""

from __future__ import annotations

import os

from bertlab.convert import checkpoint_io, heads, task_heads
from bertlab.convert.bundle import Bundle
from bertlab.convert.hf import encoder_from_hf
from bertlab.convert.hf_config import FAMILIES, encoder_config_from_hf
from bertlab.convert.ours import has_tokenizer
from bertlab.encoder import Encoder

# Set by our export on config.json (transformers keeps unknown fields): SpanBERT is model_type
# bert to transformers, and only this says it was SpanBERT.
FAMILY_FIELD = "bertlab_family"
ENCODER_CLASSES = {f"{c}Model": m for m, c in (("bert", "Bert"), ("albert", "Albert"),
                                               ("roberta", "Roberta"), ("electra", "Electra"))}
# *ForMaskedLM saved from a *ForPreTraining still holds its pair head: read it whole.
_UPGRADES = {"BertForMaskedLM": ("BertForPreTraining", "cls.seq_relationship.weight"),
             "AlbertForMaskedLM": ("AlbertForPreTraining", "sop_classifier.classifier.weight")}


def is_electra_pair(path: str) -> bool:
  return all(os.path.isfile(os.path.join(path, h, checkpoint_io.CONFIG))
             for h in ("generator", "discriminator"))


def bundle_from_hf(path: str, encoder_only: bool = False) -> Bundle:
  """Reads the HF checkpoint directory `path` (see the module docstring)."""
  if is_electra_pair(path):
    return _electra_pair(path)
  hf_config = checkpoint_io.read_config(path)
  encoder_config_from_hf(hf_config)  # rejects an unsupported model_type before reading weights
  model_type = hf_config["model_type"]
  family = hf_config.get(FAMILY_FIELD) or model_type
  name = _architecture(hf_config, path, encoder_only)
  state = checkpoint_io.read_state(path)
  tokenizer = path if has_tokenizer(path) else None
  try:
    if name in heads.ARCHITECTURES:
      upgrade, marker = _UPGRADES.get(name, (None, None))
      if marker in state:
        name = upgrade
      _, model, params, ignored = heads.pretraining_from_hf(hf_config, state, name)
      arch = heads.ARCHITECTURES[name]
      halves = (arch.half,) if arch.half else ()
      notes = [f"{name} -> {type(model).__name__}: encoder + heads "
               f"{', '.join(sorted({h[1][0] for h in arch.heads}))}"]
      if arch.half:
        notes.append(f"ELECTRA {arch.half} only: load DIR/generator + DIR/discriminator "
                     "together for a model that can be trained")
      return Bundle(family, model, params, tokenizer, halves=halves, source=path,
                    notes=notes + _ignored(ignored))
    if name.endswith(tuple(task_heads.HF_CLASSES.values())):
      kind = _task_kind(name, hf_config)
      model, params, problems = task_heads.task_params_from_hf(hf_config, state, kind)
      if problems or params["head"] is None:
        raise ValueError(f"{name}: its head tensors do not fit a {kind} head of "
                         f"{model.num_labels} labels: {problems or 'none found'}")
      labels = (_labels(hf_config, model.num_labels)
                if kind in ("classification", "token_classification") else None)
      return Bundle(family, model, params, tokenizer, labels=labels, source=path,
                    notes=[f"{name} -> TaskModel({kind!r}, {model.num_labels} labels)"])
    config, params, ignored = encoder_from_hf(hf_config, state)
    return Bundle(family, Encoder(config), params, tokenizer, source=path,
                  notes=[f"{name or 'no architectures field'} -> Encoder"] + _ignored(ignored))
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from e


def _architecture(hf_config: dict, path: str, encoder_only: bool) -> str:
  found = hf_config.get("architectures") or []
  if encoder_only or not found:
    return found[0] if found else ""
  suffixes = tuple(task_heads.HF_CLASSES.values())
  known = [a for a in found if a in heads.ARCHITECTURES or a in ENCODER_CLASSES
           or (a.endswith(suffixes) and a.split("For")[0].lower() in FAMILIES)]
  if len(known) != 1:
    raise ValueError(
        f"{path}/config.json lists architectures {found}; bertlab maps exactly one of "
        f"{sorted(heads.ARCHITECTURES) + sorted(ENCODER_CLASSES)} or a "
        f"{{Family}}{{{', '.join(sorted(set(suffixes)))}}} class. To take the encoder alone "
        "and drop the rest, pass encoder_only=True (CLI: --encoder-only)")
  return known[0]


def _task_kind(name: str, hf_config: dict) -> str:
  if name.endswith("ForSequenceClassification"):
    regression = hf_config.get("problem_type") == "regression" or _num_labels(hf_config) == 1
    return "regression" if regression else "classification"
  return {"ForTokenClassification": "token_classification",
          "ForQuestionAnswering": "span"}[name[name.index("For"):]]


def _num_labels(hf_config: dict) -> int:
  return int(hf_config.get("num_labels") or len(hf_config.get("id2label") or {}) or 2)


def _labels(hf_config: dict, n: int) -> list[str]:
  id2label = {int(k): v for k, v in (hf_config.get("id2label") or {}).items()}
  return [str(id2label.get(i, f"LABEL_{i}")) for i in range(n)]


def _ignored(names) -> list[str]:
  if not names:
    return []
  shown = ", ".join(list(names)[:6]) + (", ..." if len(names) > 6 else "")
  return [f"ignored {len(names)} tensor(s) no bertlab module holds (buffers, unused heads): "
          + shown]


def _electra_pair(path: str) -> Bundle:
  g, d = (os.path.join(path, h) for h in ("generator", "discriminator"))
  model, params, diffs = heads.load_electra_pair(g, d)
  worst = max(diffs.values(), default=0.0)
  tokenizer = next((p for p in (path, d, g) if has_tokenizer(p)), None)
  return Bundle("electra", model, params, tokenizer, source=path, notes=[
      "generator/ (ElectraForMaskedLM) + discriminator/ (ElectraForPreTraining) -> "
      f"ElectraForPretraining; shared embeddings from the discriminator (max |generator - "
      f"discriminator| {worst:.3g})"])
