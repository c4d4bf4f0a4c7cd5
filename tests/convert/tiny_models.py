"""Tiny random models of the five families, on both sides, and their outputs side by side.

Imported by the export and CLI tests as `tiny_models` (conftest.py puts this folder on
sys.path). Every parameter is redrawn (HF and flax both start biases at 0 and norm scales
at 1, which would hide a bias or scale mapped to the wrong place).
"""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import torch
import transformers as T
from hf_random import randomize

from bertlab.convert.bundle import build, describe, flatten, param_shapes, unflatten
from bertlab.data.tokenizer_training import train_tokenizer
from bertlab.encoder import EncoderConfig
from bertlab.objectives.electra import ElectraForPretraining
from bertlab.objectives.pretraining import MaskedLmModel
from bertlab.objectives.registry import build_model

FAMILIES = ("bert", "albert", "roberta", "electra", "spanbert")
TOKENIZER = {"bert": "wordpiece", "albert": "sentencepiece", "roberta": "bpe",
             "electra": "wordpiece", "spanbert": "wordpiece"}
TEXTS = ["the cat sat on the mat .", "paris is the capital of france .",
         "a dog ran in the park with the cat", "Stars shine over the quiet harbour tonight"] * 8
VOCAB = 320  # >= every tiny tokenizer's size (byte BPE has 256 bytes + merges)
HF = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
          intermediate_size=37, max_position_embeddings=40)
F32_TOL = 1e-5


@functools.cache
def tokenizer(family: str):
  kind = TOKENIZER[family]
  size = {"wordpiece": 120, "bpe": 300, "sentencepiece": 60}[kind]
  return train_tokenizer(kind, TEXTS, vocab_size=size, min_frequency=1,
                         lowercase=False if family == "spanbert" else None)


def hf_models(family: str, seed: int = 0) -> dict[str, torch.nn.Module]:
  """{subdirectory: random HF model}: one model, or ELECTRA's generator and discriminator."""
  if family == "electra":
    disc = T.ElectraForPreTraining(T.ElectraConfig(**HF, embedding_size=16))
    gen = T.ElectraForMaskedLM(T.ElectraConfig(**dict(HF, hidden_size=16, intermediate_size=20),
                                               embedding_size=16))
    disc, gen = randomize(disc, seed), randomize(gen, seed + 1)
    with torch.no_grad():  # the pair shares its embeddings
      for name, p in disc.electra.embeddings.named_parameters():
        gen.electra.embeddings.get_parameter(name).copy_(p)
    return {"generator": gen, "discriminator": disc}
  model = {"bert": lambda: T.BertForPreTraining(T.BertConfig(**HF)),
           "spanbert": lambda: T.BertForMaskedLM(T.BertConfig(**HF)),
           "albert": lambda: T.AlbertForPreTraining(T.AlbertConfig(**HF, embedding_size=16)),
           "roberta": lambda: T.RobertaForMaskedLM(T.RobertaConfig(
               **dict(HF, max_position_embeddings=42), type_vocab_size=1, pad_token_id=1))}
  return {"": randomize(model[family](), seed)}


def save_hf(models: dict, path, fmt: str, family: str):
  """save_pretrained each model under path/subdir; fmt 'bin' replaces the safetensors with a
  torch.save'd state dict (tied copies included, as old checkpoints have them)."""
  for sub, model in models.items():
    d = path / sub if sub else path
    model.save_pretrained(d)
    if fmt == "bin":
      torch.save(model.state_dict(), d / "pytorch_model.bin")
      (d / "model.safetensors").unlink()
  tokenizer(family).save(str(path))


def our_model(family: str, seed: int = 0):
  """(model, random params) of our pretraining model of `family`."""
  base = dict(vocab_size=VOCAB, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=37,
              max_position_embeddings=40)
  config = EncoderConfig(**{**base, **{
      "albert": dict(embedding_size=16, sharing="all", hidden_act="gelu_new"),
      "roberta": dict(max_position_embeddings=42, position_offset=2, pad_token_id=1,
                      type_vocab_size=1, layer_norm_eps=1e-5),
      "electra": dict(embedding_size=16, use_pooler=False)}.get(family, {})})
  generator = config.replace(hidden_size=16, intermediate_size=20) if family == "electra" else None
  model = build_model(family, config, generator, sbo_position_dim=8)
  rng = np.random.default_rng(seed)
  # Drawn from the shapes alone: initialising would compile the model for nothing.
  draw = lambda path, x: ((1.0 if path.endswith("scale") else 0.0) + rng.normal(
      0, 0.2 if path.endswith("scale") else 0.1, x.shape)).astype(np.float32)
  flat = {k: draw(k, x) for k, x in flatten(param_shapes(model)).items()}
  return model, unflatten(flat)


def batch(pad_id: int, type_vocab: int = 2, seed: int = 0):
  """ids, mask, token types int64 [3, 10], right-padded with pad_id."""
  rng = np.random.default_rng(seed)
  mask = (np.arange(10)[None] < np.array([[10], [7], [4]])).astype(np.int64)
  ids = np.where(mask, rng.integers(5, VOCAB, (3, 10)), pad_id)
  types = rng.integers(0, type_vocab, (3, 10)) * mask
  return ids, mask, types


def hf_outputs(models: dict, b) -> dict[str, np.ndarray]:
  """mlm [B, L, V], pair [B, 2], rtd [B, L], hidden [B, L, H] (the discriminator's)."""
  ids, mask, types = (torch.from_numpy(x) for x in b)
  out = {}
  with torch.no_grad():
    for model in models.values():
      o = model(input_ids=ids, attention_mask=mask, token_type_ids=types,
                output_hidden_states=True)
      if isinstance(model, T.ElectraForPreTraining):
        out["rtd"] = o.logits
      else:
        out["mlm"] = getattr(o, "prediction_logits", None)
        out["mlm"] = o.logits if out["mlm"] is None else out["mlm"]
        pair = getattr(o, "seq_relationship_logits", getattr(o, "sop_logits", None))
        if pair is not None:
          out["pair"] = pair
      if not isinstance(model, T.ElectraForMaskedLM):
        out["hidden"] = o.hidden_states[-1]
  return {k: v.numpy() for k, v in out.items()}


def our_outputs(model, params, b) -> dict[str, np.ndarray]:
  """The same keys from our model (SpanBERT's SBO has no HF counterpart: left out)."""
  key = json.dumps(describe(model), sort_keys=True)
  return {k: np.asarray(v) for k, v in _forward(key, params, *b).items()}


@functools.partial(jax.jit, static_argnums=0)
def _forward(description: str, params, ids, mask, types):
  # One compiled program per model description (op-by-op dispatch would compile every op of
  # the scanned stack), shared by the tests whose models are equal.
  model = build(json.loads(description))
  ids, mask, types = (jnp.asarray(x, jnp.int32) for x in (ids, mask, types))
  apply = lambda method: model.apply({"params": params}, ids, mask, types, method=method)
  if isinstance(model, ElectraForPretraining):
    def both(m, i, a, t):
      hidden = m.discriminator(i, a, t)[0]
      return {"mlm": m.generator_logits(i, a, t), "rtd": m.discriminator_head(hidden),
              "hidden": hidden}
    return apply(both)
  return dict(apply(MaskedLmModel.logits))


def max_diffs(ref: dict, ours: dict, mask) -> dict[str, float]:
  """max |ours - ref| per output, per-token outputs at real tokens only."""
  real = mask.astype(bool)
  assert sorted(ref) == sorted(ours), (sorted(ref), sorted(ours))
  return {k: float(np.abs(ours[k] - ref[k])[real if k != "pair" else slice(None)].max())
          for k in ref}


def fake_pretraining_run(path, family: str, steps=(5,)):
  """A workdir as train.py leaves it (config.json, checkpoints/STEP/state with the whole
  TrainState, the tokenizer in cache/) holding our random model; returns (model, params)."""
  import orbax.checkpoint as ocp

  model, params = our_model(family)
  as_run = lambda c: dict(c.to_dict(), embedding_size=c.embedding_size or 0)
  run = {"family": family, "model": as_run(model.config),
         "generator": as_run(model.generator_config) if family == "electra" else {},
         "objective": {"sbo_max_targets": 15, "sbo_position_dim": 8},
         "data": {"tokenizer": TOKENIZER[family], "tokenizer_dir": "", "cache_dir": ""}}
  path.mkdir(parents=True)
  (path / "config.json").write_text(json.dumps(run))
  tokenizer(family).save(str(path / "cache" / f"tokenizer-{TOKENIZER[family]}-0123"))
  checkpointer = ocp.StandardCheckpointer()
  for step in steps:
    state = {"step": np.int32(step), "params": params, "rng": np.zeros(2, np.uint32),
             "opt_state": {"mu": params}}
    checkpointer.save(str((path / "checkpoints" / str(step) / "state").absolute()), state)
  checkpointer.wait_until_finished()
  return model, params
