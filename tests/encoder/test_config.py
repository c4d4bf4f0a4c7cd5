import pytest

from bertlab.encoder import EncoderConfig


@pytest.mark.parametrize("kw,field", [
    (dict(hidden_size=100, num_heads=3), "hidden_size"),
    (dict(hidden_act="gelu_fast"), "hidden_act"),
    (dict(dtype="bf16"), "dtype"),
    (dict(sharing="al"), "sharing"),
    (dict(sharing="groups", num_layers=12, num_hidden_groups=5), "num_hidden_groups"),
    (dict(num_hidden_groups=2), "num_hidden_groups"),
    (dict(embedding_size=0), "embedding_size"),
    (dict(max_position_embeddings=0), "max_position_embeddings"),
    (dict(position_offset=600), "position_offset"),
    (dict(hidden_dropout=1.5), "hidden_dropout"),
    (dict(num_layers=2.0), "num_layers"),
])
def test_bad_values_name_the_field(kw, field):
  with pytest.raises(ValueError, match=f"EncoderConfig.{field}"):
    EncoderConfig(**kw)


def test_suggests_nearest_value_and_field():
  with pytest.raises(ValueError, match="did you mean 'bfloat16'"):
    EncoderConfig(dtype="bfloat")
  with pytest.raises(ValueError, match="did you mean 'hidden_size'"):
    EncoderConfig().replace(hiden_size=3)


def test_derived_sizes():
  cfg = EncoderConfig(hidden_size=96, num_heads=3, embedding_size=32, num_layers=6,
                      sharing="groups", num_hidden_groups=3)
  assert (cfg.head_dim, cfg.embed_dim, cfg.num_groups) == (32, 32, 3)
  assert EncoderConfig(sharing="all").num_groups == 1
  assert EncoderConfig(num_layers=5).num_groups == 5
  assert EncoderConfig.from_dict(cfg.to_dict()) == cfg
