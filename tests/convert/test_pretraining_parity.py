"""Converted HF pretraining checkpoints compute the HF models' head logits, and convert back.

Small random HF models with every parameter redrawn (as in test_encoder_parity), saved with
`save_pretrained`, read with `load_pretraining` / `load_electra_pair`; logits are compared at
non-pad positions (right padding).
"""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers as T
from hf_random import make_batch, randomize

from bertlab.convert import heads
from bertlab.convert.hf import _flatten

SIZES = dict(vocab_size=211, hidden_size=96, num_hidden_layers=2, num_attention_heads=3,
             intermediate_size=160, max_position_embeddings=40)
# The generator is narrower than the discriminator (ELECTRA §3.2) and than E, so it has its own
# E->H projection and its head maps H -> E.
GENERATOR = dict(SIZES, hidden_size=24, num_attention_heads=2, intermediate_size=48,
                 embedding_size=40)
CASES = {  # name -> HF class, config
    "bert": (T.BertForPreTraining, T.BertConfig(**SIZES, type_vocab_size=3)),
    "albert_all": (T.AlbertForPreTraining, T.AlbertConfig(**SIZES, embedding_size=40)),
    "albert_groups": (T.AlbertForPreTraining,
                      T.AlbertConfig(**SIZES, embedding_size=40, num_hidden_groups=2)),
    "roberta": (T.RobertaForMaskedLM, T.RobertaConfig(**dict(SIZES, max_position_embeddings=42),
                                                      type_vocab_size=1)),
    "electra_generator": (T.ElectraForMaskedLM, T.ElectraConfig(**GENERATOR)),
    "electra_discriminator": (T.ElectraForPreTraining, T.ElectraConfig(**SIZES, embedding_size=40)),
}
F32_TOL = 1e-5
POSITIONS = np.array([[0, 3, 9], [6, 1, 2], [3, 0, 0]])  # [B, P], inside each row's length


def hf_logits(model, batch) -> dict[str, np.ndarray]:
  """The HF model's head logits: "mlm" [B, L, V], "pair" [B, 2], "rtd" [B, L]."""
  with torch.no_grad():
    out = model(input_ids=batch[0], attention_mask=batch[1], token_type_ids=batch[2])
  if isinstance(model, T.ElectraForPreTraining):
    return {"rtd": out.logits.numpy()}
  found = {"mlm": getattr(out, "prediction_logits", None), "pair": (
      getattr(out, "seq_relationship_logits", None) if hasattr(out, "seq_relationship_logits")
      else getattr(out, "sop_logits", None))}
  if found["mlm"] is None:
    found["mlm"] = out.logits
  return {k: v.numpy() for k, v in found.items() if v is not None}


def our_logits(model, params, batch, positions=None) -> dict[str, np.ndarray]:
  ids, mask, types = (jnp.asarray(t.numpy()) for t in batch)
  apply = lambda method, *a: model.apply({"params": params}, ids, mask, types, *a, method=method)
  if isinstance(model, heads.ElectraForPretraining):
    if "generator" in params:
      out = {"mlm": apply(model.generator_logits, positions)}
    else:
      out = {"rtd": apply(model.discriminator_logits)}
  else:
    out = {k: v for k, v in apply(model.logits, positions).items() if k != "hidden"}
  return {k: np.asarray(v, np.float32) for k, v in out.items()}


def max_diffs(ref, ours, mask) -> dict[str, float]:
  """max |ours - ref| per head; per-token heads at non-pad positions only."""
  real = mask.numpy().astype(bool)
  assert sorted(ref) == sorted(ours)
  return {k: float(np.abs(ours[k] - ref[k])[real if k != "pair" else slice(None)].max())
          for k in ref}


@pytest.fixture(scope="module", params=list(CASES))
def converted(request, tmp_path_factory):
  """(name, HF model, batch, our family, model, params) for one saved checkpoint."""
  name = request.param
  cls, cfg = CASES[name]
  hf_model = randomize(cls(cfg), seed=len(name))
  path = tmp_path_factory.mktemp(name)
  hf_model.save_pretrained(path)
  family, model, params = heads.load_pretraining(str(path))
  return name, hf_model, make_batch(cfg), family, model, params


def test_float32_parity(converted):
  name, hf_model, batch, family, model, params = converted
  assert family == name.split("_")[0]
  diffs = max_diffs(hf_logits(hf_model, batch), our_logits(model, params, batch), batch[1])
  print(f"{name}: max|diff| {diffs}, max|logits| "
        f"{ {k: float(np.abs(v).max()) for k, v in hf_logits(hf_model, batch).items()} }")
  assert all(d <= F32_TOL for d in diffs.values()), diffs


def test_gathered_positions_match_all_positions(converted):
  _, _, batch, _, model, params = converted
  full = our_logits(model, params, batch)
  if "mlm" not in full:  # the ELECTRA discriminator: its RTD logits are per token by design
    assert set(full) == {"rtd"}, set(full)
    return
  gathered = our_logits(model, params, batch, jnp.asarray(POSITIONS))["mlm"]
  want = np.take_along_axis(full["mlm"], POSITIONS[..., None], axis=1)
  np.testing.assert_allclose(gathered, want, atol=1e-6, rtol=0)


def test_export_round_trip_is_exact(converted):
  """ours -> HF tensors equal the HF model's state_dict bit for bit (tied copies included),
  load strictly into a fresh HF model, and convert back to the same params."""
  name, hf_model, _, _, model, params = converted
  arch = type(hf_model).__name__
  state = heads.pretraining_state_from_params(arch, model, params, tied_copies=True)
  ref = {k: v.numpy() for k, v in hf_model.state_dict().items()}
  assert sorted(state) == sorted(ref)
  for k in ref:
    np.testing.assert_array_equal(state[k], ref[k], err_msg=k)
  fresh = type(hf_model)(hf_model.config)
  fresh.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
  _, _, back, _ = heads.pretraining_from_hf(hf_model.config.to_dict(), state, arch)
  assert_same_params(back, params)
  # Without the tied copies: what save_pretrained writes.
  lean = heads.pretraining_state_from_params(arch, model, params)
  assert sorted(set(state) - set(lean)) == sorted(t for t, _ in heads.ARCHITECTURES[arch].tied)


def assert_same_params(a, b):
  for (path, x), (path_b, y) in zip(_flatten(a), _flatten(b), strict=True):
    assert path == path_b
    np.testing.assert_array_equal(x, y, err_msg="/".join(path))


def test_untied_decoder_is_rejected():
  cls, cfg = CASES["bert"]
  hf_model = randomize(cls(T.BertConfig(**dict(cfg.to_dict(), num_hidden_layers=1))), seed=3)
  state = {k: v.numpy().copy() for k, v in hf_model.state_dict().items()}
  cfg = hf_model.config.to_dict()
  heads.pretraining_from_hf(cfg, state, "BertForPreTraining")  # equal copies are accepted
  state["cls.predictions.decoder.weight"][0, 0] += 0.5
  with pytest.raises(ValueError,
                     match=r"untied +cls\.predictions\.decoder\.weight differs .* 0\.5"):
    heads.pretraining_from_hf(cfg, state, "BertForPreTraining")


def test_unsupported_configs_are_rejected(tmp_path):
  cfg = T.RobertaConfig(**SIZES, hidden_act="gelu_new")
  with pytest.raises(ValueError, match="exact GELU whatever hidden_act says"):
    heads.pretraining_from_hf(dict(cfg.to_dict(), architectures=["RobertaForMaskedLM"]), {})
  with pytest.raises(ValueError, match=r"architectures \['BertModel'\].*load_encoder"):
    heads.pretraining_from_hf(dict(T.BertConfig(**SIZES).to_dict(), architectures=["BertModel"]),
                              {})


def test_roberta_pooler_is_ignored():
  """roberta-base's checkpoint keeps a pooler that RobertaForMaskedLM does not build."""
  cls, cfg = CASES["roberta"]
  hf_model = randomize(cls(type(cfg)(**dict(cfg.to_dict(), num_hidden_layers=1))), seed=4)
  state = {k: v.numpy() for k, v in hf_model.state_dict().items()}
  extra = {"roberta.pooler.dense.weight": np.zeros((96, 96), np.float32),
           "roberta.pooler.dense.bias": np.zeros(96, np.float32)}
  _, model, _, ignored = heads.pretraining_from_hf(hf_model.config.to_dict(), {**state, **extra},
                                                   "RobertaForMaskedLM")
  assert ignored == sorted(extra) and not model.config.use_pooler


def electra_pair(tmp_path, shared=True):
  """A random HF generator and discriminator saved under tmp_path; with `shared`, the
  generator's embedding tensors are copies of the discriminator's."""
  gen = randomize(T.ElectraForMaskedLM(T.ElectraConfig(**GENERATOR)), seed=11)
  disc = randomize(T.ElectraForPreTraining(T.ElectraConfig(**SIZES, embedding_size=40)), seed=12)
  if shared:
    with torch.no_grad():
      for name, p in disc.electra.embeddings.named_parameters():
        gen.electra.embeddings.get_parameter(name).copy_(p)
  gen.save_pretrained(tmp_path / "generator")
  disc.save_pretrained(tmp_path / "discriminator")
  return gen, disc


def test_electra_pair_parity_and_round_trip(tmp_path):
  gen, disc = electra_pair(tmp_path)
  model, params, embed_diffs = heads.load_electra_pair(str(tmp_path / "generator"),
                                                       str(tmp_path / "discriminator"))
  assert len(embed_diffs) == 5 and set(embed_diffs.values()) == {0.0}
  batch = make_batch(disc.config)
  ids, mask, types = (jnp.asarray(t.numpy()) for t in batch)
  ours = {"mlm": model.apply({"params": params}, ids, mask, types,
                             method=model.generator_logits),
          "rtd": model.apply({"params": params}, ids, mask, types,
                             method=model.discriminator_logits)}
  ref = {**hf_logits(gen, batch), **hf_logits(disc, batch)}
  diffs = max_diffs(ref, {k: np.asarray(v) for k, v in ours.items()}, batch[1])
  print(f"electra pair: {diffs}")
  assert all(d <= F32_TOL for d in diffs.values()), diffs

  g_state, d_state = heads.electra_pair_state_from_params(model, params, tied_copies=True)
  for hf_model, state in ((gen, g_state), (disc, d_state)):
    ref_state = hf_model.state_dict()
    assert sorted(state) == sorted(ref_state)
    for k, v in ref_state.items():
      np.testing.assert_array_equal(state[k], v.numpy(), err_msg=k)
  _, back, _ = heads.electra_pair_from_hf(gen.config.to_dict(), g_state,
                                          disc.config.to_dict(), d_state)
  assert_same_params(back, params)


def test_electra_pair_reports_unshared_embeddings(tmp_path):
  gen, disc = electra_pair(tmp_path, shared=False)
  _, params, embed_diffs = heads.load_electra_pair(str(tmp_path / "generator"),
                                                   str(tmp_path / "discriminator"))
  want = np.abs(gen.electra.embeddings.word_embeddings.weight.detach().numpy()
                - disc.electra.embeddings.word_embeddings.weight.detach().numpy()).max()
  assert embed_diffs["electra.embeddings.word_embeddings.weight"] == pytest.approx(want)
  np.testing.assert_array_equal(params["embeddings"]["word"]["embedding"],
                                disc.electra.embeddings.word_embeddings.weight.detach().numpy())
  with pytest.raises(ValueError, match="generator directory first"):
    heads.load_electra_pair(str(tmp_path / "discriminator"), str(tmp_path / "generator"))
