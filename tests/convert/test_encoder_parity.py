"""Converted HF checkpoints compute what the HF PyTorch models compute.

Each family is a small random HF model with odd sizes, every parameter redrawn (HF initialises
LayerNorms to ones/zeros and weights at std 0.02, which would hide a swapped scale/bias or a
transposed kernel), saved with `save_pretrained` and read back with `load_encoder`.
"""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers as T
from hf_random import make_batch, randomize

from bertlab.convert import hf, hf_config
from bertlab.encoder import Encoder

SIZES = dict(vocab_size=211, hidden_size=96, num_hidden_layers=4, num_attention_heads=3,
             intermediate_size=160, max_position_embeddings=40)
MODELS = {  # name -> (model_type, HF config, bare model class)
    "bert": ("bert", T.BertConfig(**SIZES, type_vocab_size=3), T.BertModel),
    "albert_all": ("albert", T.AlbertConfig(**SIZES, embedding_size=40), T.AlbertModel),
    "albert_groups": ("albert", T.AlbertConfig(**SIZES, embedding_size=40, num_hidden_groups=2),
                      T.AlbertModel),
    "roberta": ("roberta", T.RobertaConfig(**dict(SIZES, max_position_embeddings=42),
                                           type_vocab_size=1), T.RobertaModel),
    "electra": ("electra", T.ElectraConfig(**SIZES, embedding_size=40), T.ElectraModel),
}
F32_TOL = 1e-5
# bfloat16 keeps 8 significant bits (relative step 2^-8 = 0.4 %). Through 4 layers, on hidden
# states up to ~6 in magnitude, the largest error measured was 0.046 (hidden) and 0.029 (pooled),
# i.e. about 1 % of the largest state; the bound leaves 2x room.
BF16_TOL = 0.1


@pytest.fixture(scope="module", params=list(MODELS) + ["bert_bin"])
def converted(request, tmp_path_factory):
  """(name, HF model, batch, HF outputs, our config, our params) for one saved checkpoint."""
  name = request.param
  model_type, cfg, cls = MODELS[name.removesuffix("_bin")]
  model = randomize(cls(cfg), seed=len(name))
  path = tmp_path_factory.mktemp(name)
  if name.endswith("_bin"):
    # transformers 5 saves safetensors only; older releases (and many hub checkpoints) wrote
    # the state dict pickled by torch.save, as here.
    model.config.save_pretrained(path)
    torch.save(model.state_dict(), path / "pytorch_model.bin")
  else:
    model.save_pretrained(path)
  assert {p.name for p in path.iterdir()} == {
      "config.json", "pytorch_model.bin" if name.endswith("_bin") else "model.safetensors"}
  batch = make_batch(cfg)
  with torch.no_grad():
    out = model(input_ids=batch[0], attention_mask=batch[1], token_type_ids=batch[2])
  config, params = hf.load_encoder(str(path))
  return name, model_type, model, batch, out, config, params


def run_ours(config, params, batch):
  ids, mask, types = (jnp.asarray(t.numpy()) for t in batch)
  hidden, pooled = Encoder(config).apply({"params": params}, ids, mask, types)
  return np.asarray(hidden, np.float32), None if pooled is None else np.asarray(pooled, np.float32)


def max_diffs(converted, dtype):
  name, _, _, batch, out, config, params = converted
  hidden, pooled = run_ours(config.replace(dtype=dtype), params, batch)
  real = batch[1].numpy().astype(bool)  # padded positions' states are never used
  ref = out.last_hidden_state.numpy()
  d_hidden = float(np.abs(hidden - ref)[real].max())
  has_pooler = name not in ("electra",)
  assert (pooled is not None) == has_pooler
  d_pooled = float(np.abs(pooled - out.pooler_output.numpy()).max()) if has_pooler else 0.0
  print(f"{name} {dtype}: max|hidden diff| {d_hidden:.2e}, max|pooled diff| "
        f"{f'{d_pooled:.2e}' if has_pooler else 'n/a'}, max|hidden| {np.abs(ref[real]).max():.2f}")
  return d_hidden, d_pooled


def assert_same_tensors(state, ref):
  assert sorted(state) == sorted(ref)
  for k in ref:
    np.testing.assert_array_equal(state[k], ref[k], err_msg=k)


def test_float32_parity(converted):
  d_hidden, d_pooled = max_diffs(converted, "float32")
  assert d_hidden <= F32_TOL and d_pooled <= F32_TOL


def test_bfloat16_parity(converted):
  d_hidden, d_pooled = max_diffs(converted, "bfloat16")
  assert d_hidden <= BF16_TOL and d_pooled <= BF16_TOL


def test_config_mapping(converted):
  name, model_type, _, _, _, config, _ = converted
  assert (config.num_layers, config.hidden_size, config.num_heads) == (4, 96, 3)
  assert config.embed_dim == (40 if model_type in ("albert", "electra") else 96)
  assert config.num_groups == {"albert_all": 1, "albert_groups": 2}.get(name, 4)
  assert config.position_offset == (2 if model_type == "roberta" else 0)
  assert config.hidden_act == ("gelu_new" if model_type == "albert" else "gelu")


def test_export_round_trip_is_exact(converted):
  """params -> HF tensors gives back the checkpoint's tensors bit for bit, and an HF model
  built from the exported config.json takes them with strict loading."""
  _, model_type, model, _, _, config, params = converted
  state = hf.encoder_state_from_params(params, config, model_type)
  assert_same_tensors(state, {k: v.numpy() for k, v in model.state_dict().items()})
  exported = hf_config.hf_config_from_encoder(config, model_type)
  assert hf_config.encoder_config_from_hf(exported) == config
  rebuilt = type(model)(type(model.config)(**exported))
  rebuilt.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
  back, _ = hf.encoder_params_from_state(state, config, model_type)
  for (path, a), (_, b) in zip(hf._flatten(params), hf._flatten(back), strict=True):
    np.testing.assert_array_equal(a, b, err_msg="/".join(path))


HEAD_MODELS = [  # (model_type, class with heads, the head tensors' top-level modules)
    ("bert", T.BertForPreTraining, {"cls"}),
    ("albert", T.AlbertForPreTraining, {"predictions", "sop_classifier"}),
    ("roberta", T.RobertaForMaskedLM, {"lm_head"}),
    ("electra", T.ElectraForPreTraining, {"discriminator_predictions"}),
]


@pytest.mark.parametrize("model_type,cls,heads", HEAD_MODELS, ids=[m[0] for m in HEAD_MODELS])
def test_checkpoints_with_heads(model_type, cls, heads, tmp_path):
  """`bert.`-style prefixes are stripped, heads ignored and listed, the encoder kept exactly."""
  cfg = next(c for mt, c, _ in MODELS.values() if mt == model_type)
  cfg = type(cfg)(**dict(cfg.to_dict(), num_hidden_layers=2))
  model = randomize(cls(cfg), seed=1)
  model.save_pretrained(tmp_path)
  state = {k: v.numpy() for k, v in model.state_dict().items()}
  config, params, ignored = hf.encoder_from_hf(model.config.to_dict(), state)
  assert ignored and {name.split(".")[0] for name in ignored} == heads
  # RobertaForMaskedLM is built without a pooler: the encoder then has none.
  assert config.use_pooler == (model_type in ("bert", "albert"))
  base = {k: v.numpy() for k, v in model.base_model.state_dict().items()}
  assert_same_tensors(hf.encoder_state_from_params(params, config, model_type), base)
  config2, params2 = hf.load_encoder(str(tmp_path))
  assert config2 == config
  np.testing.assert_array_equal(params2["embeddings"]["word"]["embedding"],
                                base["embeddings.word_embeddings.weight"])


def test_legacy_layernorm_names_and_buffers():
  """TF1-converted checkpoints (bert-base-uncased) say LayerNorm.gamma/beta and keep buffers."""
  cfg = T.BertConfig(**dict(SIZES, num_hidden_layers=1))
  model = randomize(T.BertModel(cfg), seed=2)
  state = {"bert." + k.replace("LayerNorm.weight", "LayerNorm.gamma")
                         .replace("LayerNorm.bias", "LayerNorm.beta"): v.numpy()
           for k, v in model.state_dict().items()}
  state["bert.embeddings.position_ids"] = np.arange(40)[None]
  config, params, ignored = hf.encoder_from_hf(cfg.to_dict(), state)
  assert ignored == ["bert.embeddings.position_ids"]
  np.testing.assert_array_equal(params["embeddings"]["norm"]["scale"],
                                model.embeddings.LayerNorm.weight.detach().numpy())


@pytest.mark.parametrize("model_type,cls", [("bert", T.BertConfig), ("albert", T.AlbertConfig),
                                            ("roberta", T.RobertaConfig),
                                            ("electra", T.ElectraConfig)])
def test_defaults_match_transformers(model_type, cls):
  """A config.json that omits a field means what transformers' default means."""
  ref = cls().to_dict()
  for key, value in hf_config.FAMILIES[model_type].defaults.items():
    assert ref[key] == value, key
  assert (hf_config.encoder_config_from_hf({"model_type": model_type})
          == hf_config.encoder_config_from_hf(ref))
