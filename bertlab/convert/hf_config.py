"""Hugging Face `config.json` <-> EncoderConfig, and each family's HF module names.

Defaults are those of transformers' config classes, so a config.json that omits a field means
what it means to transformers (tests check the two agree).
"""

from __future__ import annotations

import dataclasses

from bertlab.encoder import EncoderConfig


@dataclasses.dataclass(frozen=True)
class Family:
  """Where one HF family keeps the encoder's modules, and what else its checkpoints hold."""

  defaults: dict
  layer: str  # module of layer (or ALBERT group) {g}
  layer_modules: tuple  # (HF module under `layer`, our path under stack/layers, kind)
  projection: str | None  # E -> H dense, when embedding_size != hidden_size
  pooler: str | None
  heads: tuple = ("classifier", "qa_outputs")  # top-level head modules: ignored on load
  buffers: tuple = ("embeddings.position_ids", "embeddings.token_type_ids")
  embeddings: tuple = (("embeddings.word_embeddings", ("embeddings", "word"), "embed"),
                       ("embeddings.position_embeddings", ("embeddings", "position"), "embed"),
                       ("embeddings.token_type_embeddings", ("embeddings", "token_type"), "embed"),
                       ("embeddings.LayerNorm", ("embeddings", "norm"), "norm"))


def _layer(q, k, v, out, out_norm, wi, wo, mlp_norm):
  """One layer's HF module names, in our order, with their paths under stack/layers."""
  return ((q, ("attention", "query"), "dense_to_heads"),
          (k, ("attention", "key"), "dense_to_heads"),
          (v, ("attention", "value"), "dense_to_heads"),
          (out, ("attention", "out"), "dense_from_heads"),
          (out_norm, ("attention_norm",), "norm"),
          (wi, ("mlp", "wi"), "dense"),
          (wo, ("mlp", "wo"), "dense"),
          (mlp_norm, ("mlp_norm",), "norm"))


_BERT_LAYER = _layer("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                     "output.dense", "output.LayerNorm")
_BERT_DEFAULTS = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                      num_attention_heads=12, intermediate_size=3072, hidden_act="gelu",
                      hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                      max_position_embeddings=512, type_vocab_size=2, initializer_range=0.02,
                      layer_norm_eps=1e-12, pad_token_id=0)

FAMILIES = {
    "bert": Family(_BERT_DEFAULTS, "encoder.layer.{g}", _BERT_LAYER, None, "pooler.dense",
                   heads=("cls", "classifier", "qa_outputs")),
    "roberta": Family(dict(_BERT_DEFAULTS, vocab_size=50265, pad_token_id=1),
                      "encoder.layer.{g}", _BERT_LAYER, None, "pooler.dense",
                      heads=("lm_head", "classifier", "qa_outputs")),
    "electra": Family(
        dict(_BERT_DEFAULTS, embedding_size=128, hidden_size=256, num_attention_heads=4,
             intermediate_size=1024), "encoder.layer.{g}", _BERT_LAYER, "embeddings_project", None,
        heads=("discriminator_predictions", "generator_predictions", "generator_lm_head",
               "classifier", "qa_outputs", "sequence_summary")),
    "albert": Family(
        dict(_BERT_DEFAULTS, vocab_size=30000, embedding_size=128, hidden_size=4096,
             num_attention_heads=64, intermediate_size=16384, num_hidden_groups=1,
             inner_group_num=1, hidden_act="gelu_new", hidden_dropout_prob=0.0,
             attention_probs_dropout_prob=0.0),
        "encoder.albert_layer_groups.{g}.albert_layers.0",
        _layer("attention.query", "attention.key", "attention.value", "attention.dense",
               "attention.LayerNorm", "ffn", "ffn_output", "full_layer_layer_norm"),
        "encoder.embedding_hidden_mapping_in", "pooler",
        heads=("predictions", "sop_classifier", "classifier", "qa_outputs")),
}
SUPPORTED = tuple(FAMILIES)

# HF activation name -> ours. gelu_fast and gelu_pytorch_tanh are the same tanh approximation.
_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_new", "gelu_fast": "gelu_new",
                "gelu_pytorch_tanh": "gelu_new", "relu": "relu", "silu": "silu", "swish": "silu",
                "tanh": "tanh"}


def encoder_config_from_hf(hf: dict) -> EncoderConfig:
  """Our EncoderConfig for a parsed HF config.json of a supported `model_type`."""
  model_type = hf.get("model_type")
  if model_type not in FAMILIES:
    raise ValueError(f"config.json has model_type {model_type!r}; bertlab converts {SUPPORTED} "
                     "(SpanBERT checkpoints are 'bert'): convert the model with its own tool")
  c = dict(FAMILIES[model_type].defaults)
  c.update({k: v for k, v in hf.items() if v is not None})

  def reject(field, found, expected, why):
    raise ValueError(f"{model_type} config.json has {field}={found!r}; bertlab's encoder "
                     f"supports {expected} only ({why})")

  if c.get("position_embedding_type", "absolute") != "absolute":
    reject("position_embedding_type", c["position_embedding_type"], "'absolute'",
           "relative position embeddings are not implemented")
  for flag in ("is_decoder", "add_cross_attention"):
    if c.get(flag):
      reject(flag, c[flag], "False", "the encoder is bidirectional, without cross-attention")
  if c["hidden_act"] not in _ACTIVATIONS:
    reject("hidden_act", c["hidden_act"], sorted(_ACTIVATIONS), "activation not implemented")
  kw = dict(vocab_size=c["vocab_size"], hidden_size=c["hidden_size"],
            num_layers=c["num_hidden_layers"], num_heads=c["num_attention_heads"],
            intermediate_size=c["intermediate_size"], embedding_size=c.get("embedding_size"),
            max_position_embeddings=c["max_position_embeddings"],
            type_vocab_size=c["type_vocab_size"], pad_token_id=c["pad_token_id"],
            hidden_act=_ACTIVATIONS[c["hidden_act"]], layer_norm_eps=c["layer_norm_eps"],
            hidden_dropout=c["hidden_dropout_prob"],
            attention_dropout=c["attention_probs_dropout_prob"],
            initializer_range=c["initializer_range"])
  if model_type == "roberta":
    kw["position_offset"] = c["pad_token_id"] + 1  # fairseq: positions start after padding_idx
  if model_type == "electra":
    kw["use_pooler"] = False
  if model_type == "albert":
    if c["inner_group_num"] != 1:
      reject("inner_group_num", c["inner_group_num"], "1",
             "every released ALBERT has one layer per group")
    if c["embedding_size"] == c["hidden_size"]:
      reject("embedding_size", c["embedding_size"], "embedding_size != hidden_size",
             "HF ALBERT keeps an E->H projection even when E == H; bertlab's encoder has none then")
    groups = c["num_hidden_groups"]
    kw.update(sharing="all" if groups == 1 else "groups", num_hidden_groups=groups)
  try:
    return EncoderConfig(**kw)
  except ValueError as e:
    raise ValueError(f"{model_type} config.json gives an invalid encoder: {e}") from e


def hf_config_from_encoder(config: EncoderConfig, model_type: str) -> dict:
  """The config.json fields of an HF `{Family}Model` equal to our encoder (for export)."""
  if model_type not in FAMILIES:
    raise ValueError(f"unknown model_type {model_type!r}; expected one of {SUPPORTED}")
  e_differs = config.embed_dim != config.hidden_size
  expect = {  # field -> whether this family's HF layout can hold its value
      "pre_layer_norm": not config.pre_layer_norm,
      # ALBERT's groups hold any sharing (none: one group per layer); the others share nothing.
      "sharing": model_type == "albert" or config.sharing == "none",
      "embedding_size": {"albert": e_differs, "electra": True}.get(model_type, not e_differs),
      "use_pooler": model_type != "electra" or not config.use_pooler,
      "position_offset": config.position_offset == (
          config.pad_token_id + 1 if model_type == "roberta" else 0),
      # HF derives a head's width from hidden_size / heads: a head-pruned encoder has narrower
      # attention than that (bertlab.compress keeps it in our own safetensors layout).
      "attention_head_size": config.num_heads * config.head_dim == config.hidden_size,
  }
  bad = [k for k, ok in expect.items() if not ok]
  if bad:
    raise ValueError(f"an HF {model_type} model cannot hold this encoder: its {bad} differ from "
                     f"the {model_type} layout ({ {k: getattr(config, k) for k in bad} }); "
                     "export it as a family whose layout it has")
  hf = dict(model_type=model_type, architectures=[_CLASS[model_type] + "Model"],
            vocab_size=config.vocab_size, hidden_size=config.hidden_size,
            num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
            intermediate_size=config.intermediate_size, hidden_act=config.hidden_act,
            hidden_dropout_prob=config.hidden_dropout,
            attention_probs_dropout_prob=config.attention_dropout,
            max_position_embeddings=config.max_position_embeddings,
            type_vocab_size=config.type_vocab_size, initializer_range=config.initializer_range,
            layer_norm_eps=config.layer_norm_eps, pad_token_id=config.pad_token_id)
  if model_type in ("albert", "electra"):
    hf["embedding_size"] = config.embed_dim
  if model_type == "albert":
    hf.update(num_hidden_groups=config.num_groups, inner_group_num=1)
  return hf


_CLASS = {"bert": "Bert", "roberta": "Roberta", "electra": "Electra", "albert": "Albert"}
