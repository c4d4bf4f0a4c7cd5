"""int8 weight quantization: error bounds of a Dense layer, the model under jit, safetensors.

The bound tested (bertlab/compress/quantize.py): round-to-nearest moves each weight by at most
s_j / 2 (s_j = max_i |W_ij| / 127), so |Δy_j| <= (s_j / 2) Σ_i |x_i| exactly. With dynamic
int8 activations too, x_i moves by at most s_x / 2, which adds Σ_i |W_ij| s_x / 2 + s_x s_j / 4.
On Gaussian data the relative error is ≈ max|W| / (127 √12 σ) ≈ 0.7 % per quantized operand,
so 1 % (weights only) and 2 % (weights and activations) are stated with margin.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bertlab.compress import artifact, int8_inference, quantize
from bertlab.compress.predict import predict_fn
from bertlab.encoder import EncoderConfig
from bertlab.tasks.models import TaskModel

F32_SLACK = 1e-5  # float32 accumulation over 256 terms, relative to Σ|x||W|


def _dense(features=64, fan_in=256, seed=0):
  kx, kw, kb = jax.random.split(jax.random.key(seed), 3)
  x_BxLxI = jax.random.normal(kx, (4, 8, fan_in))
  params = {"kernel": jax.random.normal(kw, (fan_in, features)) * 0.05,
            "bias": jax.random.normal(kb, (features,)) * 0.1}
  return nn.Dense(features), params, x_BxLxI


@pytest.mark.parametrize("mode", int8_inference.MODES)
def test_int8_dense_is_within_the_rounding_bound_of_float32(mode):
  dense, params, x_BxLxI = _dense()
  y_ref = np.asarray(jax.jit(dense.apply)({"params": params}, x_BxLxI), np.float64)
  qparams = quantize.quantize_params({"layer": params})["layer"]
  assert qparams["kernel"].dtype == jnp.int8 and qparams["kernel_scale"].shape == (64,)
  y_q = np.asarray(jax.jit(lambda p, x: int8_inference.quantized_apply(dense, p, x, mode=mode))(
      qparams, x_BxLxI), np.float64)

  w = np.asarray(params["kernel"], np.float64)
  x = np.asarray(x_BxLxI, np.float64)
  s_w = np.abs(w).max(0) / 127
  abs_x_sum_BxLx1 = np.abs(x).sum(-1, keepdims=True)
  bound = abs_x_sum_BxLx1 * s_w / 2
  if mode == "int8":
    s_x_BxLx1 = np.abs(x).max(-1, keepdims=True) / 127
    bound = bound + s_x_BxLx1 / 2 * np.abs(w).sum(0) + x.shape[-1] * s_x_BxLx1 * s_w / 4
  slack = F32_SLACK * (abs_x_sum_BxLx1 * np.abs(w).max())
  assert np.all(np.abs(y_q - y_ref) <= bound + slack)
  centred = y_ref - np.asarray(params["bias"])  # the bias is exact: measure the matmul
  rel = np.linalg.norm(y_q - y_ref) / np.linalg.norm(centred)
  assert rel < (0.01 if mode == "dequantize" else 0.02), rel


def test_attention_output_kernel_is_scaled_per_layer_and_channel():
  w_GxNxDxH = jax.random.normal(jax.random.key(1), (3, 2, 4, 8))
  params = {"stack": {"layers": {"attention": {"out": {"kernel": w_GxNxDxH}}}}}
  q = quantize.quantize_params(params)["stack"]["layers"]["attention"]["out"]
  assert q["kernel_scale"].shape == (3, 8)  # layer x output channel, over heads and width
  np.testing.assert_allclose(q["kernel_scale"], np.abs(w_GxNxDxH).max((1, 2)) / 127, rtol=1e-6)
  back = quantize.dequantize_params(quantize.quantize_params(params))
  err = np.abs(back["stack"]["layers"]["attention"]["out"]["kernel"] - w_GxNxDxH)
  assert np.all(err <= q["kernel_scale"][:, None, None, :] / 2 + 1e-7)


def test_quantized_model_logits_and_safetensors_round_trip(tmp_path):
  cfg = EncoderConfig(vocab_size=64, hidden_size=32, num_layers=2, num_heads=4,
                      intermediate_size=64, max_position_embeddings=16, initializer_range=0.1)
  model = TaskModel(cfg, "classification", 3)
  inputs = {"input_ids": jax.random.randint(jax.random.key(2), (4, 12), 0, 64),
            "attention_mask": jnp.ones((4, 12), jnp.int32).at[0, 8:].set(0),
            "token_type_ids": jnp.zeros((4, 12), jnp.int32)}
  # Everything under jit: op by op, each small op would compile on its own (seconds in all).
  params = nn.unbox(jax.jit(model.init)(jax.random.key(0),
                                        {**inputs, "label": jnp.zeros(4, jnp.int32)}))["params"]
  ref = np.asarray(predict_fn(model)(params, inputs))
  qparams = quantize.quantize_params(params, embeddings=True)
  spec = artifact.ModelSpec("bert", "sst2", "classification", 3, cfg, "", quantized=True)
  size = artifact.save(str(tmp_path), spec, qparams)
  spec2, loaded = artifact.load(str(tmp_path))
  assert spec2 == spec and loaded["encoder"]["embeddings"]["word"]["embedding"].dtype == np.int8
  assert size < 0.4 * quantize.nbytes(params)  # int8 + scales + float LayerNorm/biases
  for mode in int8_inference.MODES:
    out = np.asarray(predict_fn(model, mode)(loaded, inputs))
    assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max(), mode
