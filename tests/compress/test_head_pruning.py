"""Head importance (Michel et al. 2019) and physical head removal: same outputs, smaller model."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bertlab.compress import head_importance as hi
from bertlab.compress import head_pruning as hp
from bertlab.encoder import EncoderConfig
from bertlab.encoder.presets import count_params
from bertlab.tasks.models import TaskModel

CFG = EncoderConfig(vocab_size=64, hidden_size=32, num_layers=3, num_heads=4,
                    intermediate_size=64, max_position_embeddings=16, initializer_range=0.2,
                    hidden_dropout=0.0, attention_dropout=0.0)


def _setup(cfg, seed=0):
  model = TaskModel(cfg, "classification", 2)
  k_ids, k_lab, k_init = jax.random.split(jax.random.key(seed), 3)
  batch = {"input_ids": jax.random.randint(k_ids, (6, 10), 0, cfg.vocab_size),
           "attention_mask": jnp.ones((6, 10), jnp.int32).at[1, 7:].set(0),
           "token_type_ids": jnp.zeros((6, 10), jnp.int32),
           "label": jax.random.randint(k_lab, (6,), 0, 2)}
  params = nn.unbox(jax.jit(model.init)(k_init, batch))["params"]  # jit: compiles once
  return model, params, batch


@pytest.fixture(scope="module")
def bert():
  """(model, params, batch, importance) of a 3-layer BERT: compiled once for the module."""
  model, params, batch = _setup(CFG, seed=1)
  return model, params, batch, hi.head_importance(_loss(model), params, [batch, batch])


def _loss(model):
  return lambda params, batch: model.apply({"params": params}, batch)[0]


def _logits(model, params, batch):
  return jax.jit(lambda p, b: model.apply({"params": p}, b["input_ids"], b["attention_mask"],
                                          b["token_type_ids"], method=TaskModel.logits))(
      params, batch)


@pytest.mark.parametrize("sharing", ["none", "all"])
def test_pruned_export_computes_what_the_masked_model_does(sharing, bert):
  cfg = CFG.replace(sharing=sharing)
  if sharing == "none":
    model, params, batch, importance_GxN = bert
  else:  # ALBERT: one set of heads for all layers, one mask row
    model, params, batch = _setup(cfg)
    importance_GxN = hi.head_importance(_loss(model), params, [batch, batch])
  assert importance_GxN.shape == (cfg.num_groups, 4) and np.all(importance_GxN > 0)
  keep_GxK = hp.heads_to_keep(importance_GxN, 0.5)
  assert keep_GxK.shape == (cfg.num_groups, 2)
  # The kept heads are the two most important of each group.
  for g in range(cfg.num_groups):
    assert set(keep_GxK[g]) == set(np.argsort(-importance_GxN[g])[:2])
  mask_GxN = hp.keep_mask(keep_GxK, 4)
  masked = {**params, "encoder": hi.mask_heads(params["encoder"], jnp.asarray(mask_GxN))}
  small_cfg, small_encoder = hp.prune_heads(cfg, params["encoder"], keep_GxK)
  assert (small_cfg.num_heads, small_cfg.head_dim) == (2, 8)
  small = TaskModel(small_cfg, "classification", 2)
  small_params = {**params, "encoder": small_encoder}
  np.testing.assert_allclose(_logits(small, small_params, batch), _logits(model, masked, batch),
                             rtol=1e-5, atol=1e-6)
  # And the removal is real: fewer parameters, and the counts agree with presets.count_params.
  n = lambda p: sum(x.size for x in jax.tree_util.tree_leaves(p))
  assert n(small_encoder) == count_params(small_cfg.replace(use_pooler=True))
  # 2 heads x D 8 = 16 columns of q, k, v (and their biases) and 16 rows of out, per group.
  removed = 3 * (32 * 16 + 16) + 16 * 32
  assert n(params["encoder"]) - n(small_encoder) == cfg.num_groups * removed


def test_importance_is_the_head_gate_gradient(bert):
  model, params, batch, importance_GxN = bert
  g, n, eps = 1, 2, 1e-3

  @jax.jit
  def loss_at(gate):
    mask = jnp.ones((3, 4)).at[g, n].set(gate)
    return _loss(model)({**params, "encoder": hi.mask_heads(params["encoder"], mask)}, batch)

  finite_difference = (float(loss_at(1 + eps)) - float(loss_at(1 - eps))) / (2 * eps)
  # The fixture sums |gradient| over the same batch twice.
  np.testing.assert_allclose(importance_GxN[g, n], 2 * abs(finite_difference), rtol=2e-2)
  # A head whose output projection is zero cannot matter.
  dead = hi.mask_heads(params["encoder"], jnp.ones((3, 4)).at[0, 3].set(0.0))
  assert hi.head_importance(_loss(model), {**params, "encoder": dead}, [batch])[0, 3] == 0.0


def test_keep_selection_and_errors(bert):
  importance_GxN = np.array([[0.1, 0.4, 0.4, 0.2], [3.0, 1.0, 2.0, 0.5]])
  np.testing.assert_array_equal(hp.heads_to_keep(importance_GxN, 0.5), [[1, 2], [0, 2]])
  np.testing.assert_array_equal(hp.heads_to_keep(importance_GxN, 0.9), [[1], [0]])  # >= 1 head
  _, params, _, _ = bert
  with pytest.raises(ValueError, match="distinct head indices"):
    hp.prune_heads(CFG, params["encoder"], np.array([[0, 0], [1, 2], [1, 2]]))
  with pytest.raises(ValueError, match=r"expected shape \(G, N\)"):
    hi.mask_heads(params["encoder"], jnp.ones((2, 4)))
