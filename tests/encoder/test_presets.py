import jax
import pytest

from bertlab.encoder import Encoder, presets


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_preset_matches_published_count(name):
  published = presets.PRESETS[name][1]
  ours = presets.published_count(name) / 1e6
  assert abs(ours - published) <= presets.tolerance(published), (name, ours, published)


@pytest.mark.parametrize("name", ["bert-base", "albert-xxlarge", "electra-small", "roberta-base"])
def test_formula_equals_module(name):
  """The count formula equals the initialised module's (shapes only, no memory)."""
  cfg = presets.get(name)
  init = lambda: Encoder(cfg).init(jax.random.key(0), jax.numpy.ones((1, 8), "int32"))
  shapes = jax.eval_shape(init)
  n = sum(x.size for x in jax.tree_util.tree_leaves(shapes["params"]))
  assert n == presets.count_params(cfg)


def test_unknown_preset_suggests():
  with pytest.raises(ValueError, match="did you mean 'bert-base'"):
    presets.get("bert-bse")


def test_overrides():
  assert presets.get("bert-mini", dtype="bfloat16").dtype == "bfloat16"
