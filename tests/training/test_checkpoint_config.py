"""Resuming checks the config keys that shape the train state; vocabulary padding counts only
when it changes the padded size (runs written before `vocab_multiple` existed padded nothing)."""

import json

import pytest

from bertlab.training import config as config_lib
from bertlab.training.checkpoint import ConfigMismatchError, check_config


def _saved(tmp_path, config, drop_vocab_multiple=False):
  d = json.loads(config.to_json_best_effort())
  if drop_vocab_multiple:
    del d["model"]["vocab_multiple"]
  (tmp_path / "config.json").write_text(json.dumps(d))


def test_a_run_from_before_vocab_multiple_resumes_when_the_shapes_agree(tmp_path):
  c = config_lib.pretrain_config("bert", "bert-tiny")
  c.model.vocab_size = 4096  # a multiple of 128: padding changes nothing
  _saved(tmp_path, c, drop_vocab_multiple=True)
  check_config(str(tmp_path), c, "ckpt")  # no error
  c.model.vocab_multiple = 1
  check_config(str(tmp_path), c, "ckpt")  # 1 is what the old run had


def test_padding_that_changes_the_table_is_a_mismatch(tmp_path):
  c = config_lib.pretrain_config("bert", "bert-tiny")  # vocab 30522, padded to 30592
  assert c.model.vocab_multiple == 128
  _saved(tmp_path, c, drop_vocab_multiple=True)
  with pytest.raises(ConfigMismatchError, match="model.vocab_multiple: 1 in the checkpoint's "
                     "config, 128 now"):
    check_config(str(tmp_path), c, "ckpt")
  c.model.vocab_multiple = 2  # 30522 is even: the same table as the old run's
  check_config(str(tmp_path), c, "ckpt")
