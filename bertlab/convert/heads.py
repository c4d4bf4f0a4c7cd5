"""Hugging Face pretraining checkpoints (encoder + heads) <-> bertlab pretraining models.

`ARCHITECTURES` names, per HF class in config.json `architectures`, our model and the HF
modules of its heads; the encoder's tensors come from `hf.encoder_specs`, moved under our
model's tree (`encoder/...` in a MaskedLmModel; `embeddings/...` and `{generator,
discriminator}/...` in ElectraForPretraining). Tensors that HF ties (MLM decoder = word
embeddings, decoder bias = head bias) are checked against what they copy, never stored.
ELECTRA's released generator and discriminator are two checkpoints with one embedding
table each; `load_electra_pair` joins them into one ElectraForPretraining.
"""

from __future__ import annotations

import dataclasses
import logging

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bertlab.convert import checkpoint_io
from bertlab.convert.hf import (TensorSpec, _legacy_name, encoder_specs, module_specs,
                                params_from_state, state_from_params)
from bertlab.convert.hf_config import FAMILIES, encoder_config_from_hf, hf_config_from_encoder
from bertlab.encoder import EncoderConfig
from bertlab.objectives.electra import ElectraForPretraining
from bertlab.objectives.pretraining import (AlbertForPretraining, BertForPretraining,
                                            MaskedLmModel, RobertaForPretraining)

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Architecture:
  """One HF pretraining class: our model class and where its heads' tensors go."""

  model_type: str  # also our family name
  model_class: type
  heads: tuple  # (HF module, our path, kind): a `hf.MODULE_KINDS` kind, or "bias" (one tensor)
  tied: tuple = ()  # (HF tensor HF ties, the HF tensor it is a copy of)
  pooler: bool = True  # whether the HF class builds the encoder's pooler
  half: str | None = None  # ELECTRA: the half of ElectraForPretraining this checkpoint fills
  gelu_head: bool = False  # the HF head applies exact GELU whatever `hidden_act` says


def _mlm(transform, norm, bias, ours=("mlm",)):
  """An MLM head: transform dense, its LayerNorm, and the output bias (decoder tied)."""
  return ((transform, ours + ("transform",), "dense"), (norm, ours + ("transform_norm",), "norm"),
          (bias, ours, "bias"))


ARCHITECTURES = {
    "BertForPreTraining": Architecture(
        "bert", BertForPretraining,
        _mlm("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm",
             "cls.predictions")
        + (("cls.seq_relationship", ("pair", "classifier"), "dense"),),
        tied=(("cls.predictions.decoder.weight", "bert.embeddings.word_embeddings.weight"),
              ("cls.predictions.decoder.bias", "cls.predictions.bias"))),
    "AlbertForPreTraining": Architecture(
        "albert", AlbertForPretraining,
        _mlm("predictions.dense", "predictions.LayerNorm", "predictions")
        + (("sop_classifier.classifier", ("pair", "classifier"), "dense"),),
        tied=(("predictions.decoder.weight", "albert.embeddings.word_embeddings.weight"),
              ("predictions.decoder.bias", "predictions.bias"))),
    # MLM alone (the `architectures` of bert-base-uncased and albert-base-v2; SpanBERT exports
    # here, as transformers has no SBO head): no pooler, no sentence-pair head.
    "BertForMaskedLM": Architecture(
        "bert", MaskedLmModel,
        _mlm("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm",
             "cls.predictions"),
        tied=(("cls.predictions.decoder.weight", "bert.embeddings.word_embeddings.weight"),
              ("cls.predictions.decoder.bias", "cls.predictions.bias")), pooler=False),
    "AlbertForMaskedLM": Architecture(
        "albert", MaskedLmModel, _mlm("predictions.dense", "predictions.LayerNorm", "predictions"),
        tied=(("predictions.decoder.weight", "albert.embeddings.word_embeddings.weight"),
              ("predictions.decoder.bias", "predictions.bias")), pooler=False),
    "RobertaForMaskedLM": Architecture(
        "roberta", RobertaForPretraining,
        _mlm("lm_head.dense", "lm_head.layer_norm", "lm_head"),
        tied=(("lm_head.decoder.weight", "roberta.embeddings.word_embeddings.weight"),
              ("lm_head.decoder.bias", "lm_head.bias")),
        pooler=False, gelu_head=True),
    "ElectraForMaskedLM": Architecture(
        "electra", ElectraForPretraining,
        _mlm("generator_predictions.dense", "generator_predictions.LayerNorm",
             "generator_lm_head", ours=("generator_head",)),
        tied=(("generator_lm_head.weight", "electra.embeddings.word_embeddings.weight"),),
        pooler=False, half="generator", gelu_head=True),
    "ElectraForPreTraining": Architecture(
        "electra", ElectraForPretraining,
        (("discriminator_predictions.dense", ("discriminator_head", "dense"), "dense"),
         ("discriminator_predictions.dense_prediction", ("discriminator_head", "prediction"),
          "dense")),
        pooler=False, half="discriminator"),
}
# Embedding fields the two ELECTRA checkpoints must agree on to share one embedding module.
_PAIR_FIELDS = ("vocab_size", "embed_dim", "max_position_embeddings", "type_vocab_size",
                "position_offset", "pad_token_id", "layer_norm_eps")


def architecture_specs(arch: Architecture, config: EncoderConfig,
                       with_embeddings: bool = True) -> list[TensorSpec]:
  """Every tensor of HF `arch` as TensorSpecs with HF names and paths in our model's tree."""
  specs = []
  for s in encoder_specs(config, arch.model_type):
    if arch.half is None:
      ours = ("encoder",) + s.ours
    elif s.ours[0] == "embeddings":
      if not with_embeddings:
        continue
      ours = s.ours  # ElectraForPretraining keeps the shared embeddings at its top level
    else:
      ours = (arch.half,) + s.ours
    specs.append(dataclasses.replace(s, hf=f"{arch.model_type}.{s.hf}", ours=ours))
  for hf_module, ours, kind in arch.heads:
    specs += ([TensorSpec(f"{hf_module}.bias", ours + ("bias",), "same")] if kind == "bias"
              else module_specs(hf_module, ours, kind))
  return specs


def param_shapes(model: nn.Module, method: str) -> dict:
  """The params that `model.<method>` reads, as ShapeDtypeStructs (nothing is initialised)."""
  ids = jnp.zeros((1, 2), jnp.int32)
  abstract = jax.eval_shape(lambda: model.init(jax.random.key(0), ids, method=method))
  return nn.unbox(abstract["params"])


def pretraining_from_hf(hf_config: dict, state: dict, architecture: str | None = None):
  """(family, model, params, ignored tensor names) of an HF pretraining checkpoint.

  `architecture` defaults to config.json's `architectures`. params: nested dicts of float32
  numpy arrays for `model.apply`. A lone ELECTRA checkpoint gives an ElectraForPretraining
  whose params hold the shared embeddings and its own half only (the other half's config is a
  copy of this one's): call `generator_logits` / `discriminator_logits`, or use
  `electra_pair_from_hf` for a model that can be trained.
  """
  name = _architecture(hf_config, architecture)
  arch = ARCHITECTURES[name]
  config = _encoder_config(name, hf_config)
  model = _build(arch, config)
  state = {_legacy_name(k): v for k, v in state.items()}
  method = f"{arch.half}_logits" if arch.half else "logits"
  params, ignored = _convert(name, hf_config, state, architecture_specs(arch, config),
                             param_shapes(model, method))
  if arch.half:
    log.warning("%s holds ELECTRA's %s only: the params have no %s; load both checkpoints "
                "with load_electra_pair to train", name, arch.half,
                "discriminator" if arch.half == "generator" else "generator")
  return arch.model_type, model, params, ignored


def load_pretraining(path: str):
  """(family, model, params) of the HF pretraining checkpoint directory `path`.

  config.json `architectures` picks the class: BertForPreTraining, AlbertForPreTraining,
  BertForMaskedLM, AlbertForMaskedLM, RobertaForMaskedLM, ElectraForMaskedLM or
  ElectraForPreTraining (see `pretraining_from_hf`).
  """
  hf_config = checkpoint_io.read_config(path)
  name = _architecture(hf_config)
  _encoder_config(name, hf_config)  # reject an unsupported config before reading weights
  try:
    family, model, params, _ = pretraining_from_hf(hf_config, checkpoint_io.read_state(path), name)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from e
  return family, model, params


def electra_pair_from_hf(generator_config: dict, generator_state: dict,
                         discriminator_config: dict, discriminator_state: dict):
  """(ElectraForPretraining, params, embedding differences) of ELECTRA's two HF checkpoints.

  The discriminator's embeddings (word, position, type tables and LayerNorm) become the shared
  ones. differences: {HF tensor name: max |generator - discriminator|}, all 0.0 for checkpoints
  trained with shared embeddings (as the released ones are).
  """
  g_name, d_name = "ElectraForMaskedLM", "ElectraForPreTraining"
  g = _encoder_config(g_name, generator_config)
  d = _encoder_config(d_name, discriminator_config)
  differ = [(f, getattr(g, f), getattr(d, f)) for f in _PAIR_FIELDS
            if getattr(g, f) != getattr(d, f)]
  if differ:
    raise ValueError(f"the generator and discriminator configs differ in embedding fields "
                     f"(field, generator, discriminator): {differ}; ELECTRA shares one embedding "
                     "module, so they must agree: check that the two checkpoints belong together")
  model = ElectraForPretraining(d, g)
  d_state = {_legacy_name(k): v for k, v in discriminator_state.items()}
  g_state = {_legacy_name(k): v for k, v in generator_state.items()}
  embed_names = [s.hf for s in architecture_specs(ARCHITECTURES[d_name], d)
                 if s.ours[0] == "embeddings"]
  # A tensor missing or mis-shaped in either checkpoint is left to _convert to report.
  diffs = {n: _max_diff(g_state[n], d_state[n]) for n in embed_names
           if n in g_state and n in d_state and np.shape(g_state[n]) == np.shape(d_state[n])}
  d_params, _ = _convert(d_name, discriminator_config, d_state,
                         architecture_specs(ARCHITECTURES[d_name], d),
                         param_shapes(model, "discriminator_logits"))
  g_shapes = param_shapes(model, "generator_logits")
  del g_shapes["embeddings"]
  g_params, _ = _convert(g_name, generator_config, g_state,
                         architecture_specs(ARCHITECTURES[g_name], g, with_embeddings=False),
                         g_shapes, also_used=diffs)
  worst = max(diffs.values(), default=0.0)
  (log.warning if worst > 0 else log.info)(
      "ELECTRA pair: the discriminator's embeddings are shared; max |generator - discriminator| "
      "embedding difference %.3g %s", worst, diffs)
  return model, {**d_params, **g_params}, diffs


def load_electra_pair(generator_dir: str, discriminator_dir: str):
  """(ElectraForPretraining, params, embedding differences) of two HF checkpoint directories:
  an `ElectraForMaskedLM` generator and an `ElectraForPreTraining` discriminator."""
  loaded = []
  for path, want in ((generator_dir, "ElectraForMaskedLM"),
                     (discriminator_dir, "ElectraForPreTraining")):
    hf_config = checkpoint_io.read_config(path)
    if _architecture(hf_config) != want:
      raise ValueError(f"{path}: expected an ELECTRA {want} checkpoint, found architectures "
                       f"{hf_config.get('architectures')}; pass the generator directory first, "
                       "then the discriminator's")
    loaded += [hf_config, checkpoint_io.read_state(path)]
  try:
    return electra_pair_from_hf(*loaded)
  except ValueError as e:
    raise ValueError(f"{generator_dir} + {discriminator_dir}: {e}") from e


def pretraining_state_from_params(architecture: str, model: nn.Module, params: dict,
                                  tied_copies: bool = False) -> dict[str, np.ndarray]:
  """HF tensors of `architecture` (state_dict names) from our `model`'s params.

  For ElectraForPretraining, `architecture` picks the half: ElectraForMaskedLM (generator) or
  ElectraForPreTraining (discriminator); both get the shared embeddings. `tied_copies` adds the
  tensors HF ties (as `state_dict()` lists them, for `load_state_dict(strict=True)`);
  `save_pretrained` leaves them out.
  """
  if architecture not in ARCHITECTURES:
    raise ValueError(f"unknown architecture {architecture!r}; expected one of "
                     f"{sorted(ARCHITECTURES)}")
  arch = ARCHITECTURES[architecture]
  if type(model) is not arch.model_class:
    raise ValueError(f"an HF {architecture} holds a bertlab {arch.model_class.__name__}; "
                     f"found {type(model).__name__}")
  config = model.generator_config if arch.half == "generator" else model.config
  if config.use_pooler != arch.pooler:
    raise ValueError(f"an HF {architecture} {'has' if arch.pooler else 'has no'} pooler; "
                     f"this model's encoder has use_pooler={config.use_pooler}")
  hf_config_from_encoder(config, arch.model_type)  # raises if the layout cannot hold it
  _check_head_activation(architecture, config)
  state = state_from_params(params, architecture_specs(arch, config))
  if tied_copies:
    state.update({tied: state[source].copy() for tied, source in arch.tied})
  return state


def electra_pair_state_from_params(model: ElectraForPretraining, params: dict,
                                   tied_copies: bool = False):
  """(generator state, discriminator state): HF ElectraForMaskedLM and ElectraForPreTraining
  tensors of our ElectraForPretraining; both carry the shared embeddings."""
  return tuple(pretraining_state_from_params(a, model, params, tied_copies)
               for a in ("ElectraForMaskedLM", "ElectraForPreTraining"))


def _architecture(hf_config: dict, architecture: str | None = None) -> str:
  found = [architecture] if architecture else hf_config.get("architectures") or []
  known = [a for a in found if a in ARCHITECTURES]
  if len(known) != 1:
    where = "asked for" if architecture else "config.json lists"
    raise ValueError(f"{where} architectures {found}; bertlab converts pretraining checkpoints "
                     f"of exactly one of {sorted(ARCHITECTURES)} (for the encoder alone, use "
                     "load_encoder; if config.json lacks the field, pass `architecture`)")
  return known[0]


def _encoder_config(name: str, hf_config: dict) -> EncoderConfig:
  arch = ARCHITECTURES[name]
  if hf_config.get("model_type") != arch.model_type:
    raise ValueError(f"an HF {name} has model_type {arch.model_type!r}; config.json says "
                     f"{hf_config.get('model_type')!r}")
  config = encoder_config_from_hf(hf_config).replace(use_pooler=arch.pooler)
  _check_head_activation(name, config)
  return config


def _check_head_activation(name: str, config: EncoderConfig):
  if ARCHITECTURES[name].gelu_head and config.hidden_act != "gelu":
    raise ValueError(f"HF {name}'s head applies exact GELU whatever hidden_act says, but "
                     f"bertlab's MLM head applies hidden_act={config.hidden_act!r}: this "
                     "checkpoint cannot be converted exactly (only hidden_act='gelu' can)")


def _build(arch: Architecture, config: EncoderConfig) -> nn.Module:
  # A lone ELECTRA half: the absent half's config is a stand-in equal to this one's.
  return arch.model_class(config, config) if arch.half else arch.model_class(config)


def _convert(name, hf_config, state, specs, shapes, also_used=()):
  """params_from_state + the tied copies' check + leftovers; one ValueError for all problems."""
  arch = ARCHITECTURES[name]
  params, problems, used = params_from_state(state, specs, shapes)
  used |= set(also_used)
  for tied, source in arch.tied:
    if tied not in state:
      if not hf_config.get("tie_word_embeddings", True) and tied.endswith(".weight"):
        problems.append(f"missing    {tied}: tie_word_embeddings is false, so HF builds an "
                        "untied decoder, and the checkpoint has none")
      continue
    used.add(tied)
    diff = _max_diff(state[tied], state[source]) if source in state else 0.0
    if diff > 0:
      problems.append(f"untied     {tied} differs from {source} (shapes {np.shape(state[tied])}"
                      f", {np.shape(state[source])}; max |diff| {diff:.3g}): bertlab's MLM "
                      "decoder is tied to it, so this head cannot be converted")
  fam = FAMILIES[arch.model_type]
  ignorable = tuple(f"{arch.model_type}.{b}" for b in fam.buffers)
  if not arch.pooler and fam.pooler:  # e.g. roberta-base keeps a pooler RobertaForMaskedLM drops
    ignorable += (f"{arch.model_type}.{fam.pooler.split('.')[0]}.",)
  ignored = []
  for n in sorted(set(state) - used):
    if n.startswith(ignorable):
      ignored.append(n)
    else:
      problems.append(f"unexpected {n}: shape {tuple(np.shape(state[n]))}")
  if problems:
    raise ValueError(f"the checkpoint does not match an HF {name} built from its config.json; "
                     f"{len(problems)} problem(s):\n  " + "\n  ".join(problems)
                     + "\nCheck that config.json belongs to these weights and that "
                     "`architectures` names the class that saved them.")
  if ignored:
    log.info("%s: ignored %d buffer/unused tensors: %s", name, len(ignored), ignored)
  return params, ignored


def _max_diff(a, b) -> float:
  """max |a - b| in float32; inf when the shapes differ."""
  if np.shape(a) != np.shape(b):
    return float("inf")
  return float(np.max(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)), initial=0))
