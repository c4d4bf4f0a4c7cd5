"""What `load_encoder` says when a checkpoint directory is not what it should be, and the
less common formats it reads (bfloat16 tensors, sharded checkpoints)."""

import json

import ml_dtypes
import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from bertlab.convert import checkpoint_io, hf
from bertlab.convert.hf_config import encoder_config_from_hf, hf_config_from_encoder

TINY = dict(model_type="bert", vocab_size=23, hidden_size=12, num_hidden_layers=2,
            num_attention_heads=3, intermediate_size=20, max_position_embeddings=16)


def tiny_state(config=None, seed=0) -> dict[str, np.ndarray]:
  """Random HF-named tensors of a bare BertModel of config.json `config` (TINY by default)."""
  config = encoder_config_from_hf(config or TINY)
  params = _random_like(hf.encoder_param_shapes(config), np.random.default_rng(seed))
  return hf.encoder_state_from_params(params, config, "bert")


def _random_like(tree, rng):
  if isinstance(tree, dict):
    return {k: _random_like(v, rng) for k, v in tree.items()}
  return rng.standard_normal(tree.shape).astype(np.float32)


def write(path, config=None, state=None):
  path.mkdir(exist_ok=True)
  (path / "config.json").write_text(json.dumps(config or TINY))
  save_file(tiny_state() if state is None else state, str(path / "model.safetensors"))
  return path


def test_tiny_checkpoint_loads(tmp_path):
  config, params = hf.load_encoder(str(write(tmp_path / "ok")))
  assert config.num_layers == 2 and params["stack"]["layers"]["mlp"]["wi"]["kernel"].shape == (
      2, 12, 20)


def test_missing_directory(tmp_path):
  with pytest.raises(FileNotFoundError, match=r"nowhere does not exist.*save_pretrained"):
    hf.load_encoder(str(tmp_path / "nowhere"))


def test_file_instead_of_directory(tmp_path):
  (tmp_path / "model.safetensors").write_bytes(b"")
  with pytest.raises(FileNotFoundError, match="is a file, not a directory"):
    hf.load_encoder(str(tmp_path / "model.safetensors"))


def test_missing_config(tmp_path):
  save_file(tiny_state(), str(tmp_path / "model.safetensors"))
  with pytest.raises(FileNotFoundError, match=r"config\.json does not exist.*model\.safetensors"):
    hf.load_encoder(str(tmp_path))


def test_config_not_json(tmp_path):
  path = write(tmp_path / "c")
  (path / "config.json").write_text("{model_type: bert")
  with pytest.raises(ValueError, match=r"config\.json is not valid JSON"):
    hf.load_encoder(str(path))


def test_missing_weights(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps(TINY))
  (tmp_path / "tf_model.h5").write_bytes(b"")
  with pytest.raises(FileNotFoundError, match=r"no weights in .*model\.safetensors.*"
                     r"pytorch_model\.bin.*tf_model\.h5 \(TensorFlow\)"):
    hf.load_encoder(str(tmp_path))


def test_unknown_model_type(tmp_path):
  path = write(tmp_path / "c", config=dict(TINY, model_type="deberta-v2"))
  with pytest.raises(ValueError, match=r"'deberta-v2'.*\('bert', 'roberta', 'electra', 'albert'\)"):
    hf.load_encoder(str(path))


@pytest.mark.parametrize("field,value,match", [
    ("inner_group_num", 2, "inner_group_num=2"),
    ("position_embedding_type", "relative_key", "relative position"),
    ("hidden_act", "quick_gelu", "hidden_act='quick_gelu'"),
    ("num_hidden_groups", 3, "num_layers=2 is not divisible by num_hidden_groups=3"),
])
def test_unsupported_albert_config(field, value, match):
  config = dict(TINY, model_type="albert", embedding_size=8, **{field: value})
  with pytest.raises(ValueError, match=match):
    encoder_config_from_hf(config)


def test_truncated_safetensors(tmp_path):
  path = write(tmp_path / "t")
  data = (path / "model.safetensors").read_bytes()
  (path / "model.safetensors").write_bytes(data[: len(data) // 2])
  with pytest.raises(ValueError, match=r"model\.safetensors is not a complete safetensors file"
                     r".*truncated"):
    hf.load_encoder(str(path))


def test_truncated_torch_pickle(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps(TINY))
  torch.save({k: torch.from_numpy(v) for k, v in tiny_state().items()}, tmp_path / "x.bin")
  data = (tmp_path / "x.bin").read_bytes()
  (tmp_path / "pytorch_model.bin").write_bytes(data[: len(data) // 2])
  with pytest.raises(ValueError, match=r"pytorch_model\.bin cannot be read .*weights_only=True"):
    hf.load_encoder(str(tmp_path))


def test_torch_pickle_of_non_tensors(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps(TINY))
  torch.save({"step": 3}, tmp_path / "pytorch_model.bin")
  with pytest.raises(ValueError, match="expected a dict of tensor names to tensors"):
    hf.load_encoder(str(tmp_path))


def test_wrong_shape(tmp_path):
  state = tiny_state()
  state["encoder.layer.1.intermediate.dense.weight"] = np.zeros((21, 12), np.float32)
  with pytest.raises(ValueError, match=r"1 problem\(s\) \(1 mis-shaped\):\n  mis-shaped "
                     r"encoder\.layer\.1\.intermediate\.dense\.weight: "
                     r"expected \(20, 12\) float, found \(21, 12\) float32"):
    hf.load_encoder(str(write(tmp_path / "w", state=state)))


def test_missing_and_extra_tensors_in_one_error(tmp_path):
  state = tiny_state()
  del state["encoder.layer.0.attention.self.key.bias"]
  del state["pooler.dense.bias"]  # the pooler is present (weight), so its bias is missing
  state["encoder.layer.0.attention.self.rotary.weight"] = np.zeros((3,), np.float32)
  with pytest.raises(ValueError) as err:
    hf.load_encoder(str(write(tmp_path / "m", state=state)))
  msg = str(err.value)
  assert "3 problem(s) (2 missing, 1 unexpected)" in msg
  assert "missing    encoder.layer.0.attention.self.key.bias: expected shape (12,)" in msg
  assert "missing    pooler.dense.bias: expected shape (12,)" in msg
  assert "unexpected encoder.layer.0.attention.self.rotary.weight: shape (3,)" in msg


def test_config_that_does_not_match_weights(tmp_path):
  path = write(tmp_path / "d", config=dict(TINY, num_hidden_layers=3))
  with pytest.raises(ValueError, match=r"(?s)16 missing.*encoder\.layer\.2\..*"
                     r"Check that config\.json belongs"):
    hf.load_encoder(str(path))


def test_head_tensors_of_another_family_are_unexpected():
  state = tiny_state()
  state["lm_head.dense.weight"] = np.zeros((12, 12), np.float32)  # a RoBERTa head, in a BERT
  with pytest.raises(ValueError, match=r"unexpected lm_head\.dense\.weight"):
    hf.encoder_from_hf(TINY, state)


# Formats: bfloat16 tensors and sharded checkpoints.

def test_bfloat16_safetensors(tmp_path):
  state = tiny_state()
  save_file({k: v.astype(ml_dtypes.bfloat16) for k, v in state.items()},
            str(write(tmp_path / "b") / "model.safetensors"))
  read = checkpoint_io.read_state(str(tmp_path / "b"))
  assert read["pooler.dense.weight"].dtype == ml_dtypes.bfloat16
  config, params = hf.load_encoder(str(tmp_path / "b"))
  want = state["pooler.dense.weight"].astype(ml_dtypes.bfloat16).astype(np.float32).T
  np.testing.assert_array_equal(params["pooler"]["dense"]["kernel"], want)


def test_sharded_checkpoint(tmp_path):
  state, names = tiny_state(), sorted(tiny_state())
  (tmp_path / "config.json").write_text(json.dumps(TINY))
  shards = {"model-00001-of-00002.safetensors": names[:10],
            "model-00002-of-00002.safetensors": names[10:]}
  for file, keys in shards.items():
    save_file({k: state[k] for k in keys}, str(tmp_path / file))
  index = {"weight_map": {k: file for file, keys in shards.items() for k in keys}}
  (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
  _, params = hf.load_encoder(str(tmp_path))
  np.testing.assert_array_equal(params["embeddings"]["word"]["embedding"],
                                state["embeddings.word_embeddings.weight"])
  (tmp_path / "model-00002-of-00002.safetensors").unlink()
  with pytest.raises(FileNotFoundError, match=r"model-00002-of-00002\.safetensors, listed in"):
    hf.load_encoder(str(tmp_path))


def test_export_to_a_family_without_that_layout():
  albert = encoder_config_from_hf(dict(TINY, model_type="albert", embedding_size=8))
  with pytest.raises(ValueError,
                     match=r"HF bert model cannot hold.*\['sharing', 'embedding_size'\]"):
    hf_config_from_encoder(albert, "bert")
