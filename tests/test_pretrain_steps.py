"""The step train.py runs is built from shapes alone: batch_spec matches the data pipeline."""

import os
import sys

import jax
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "training"))

from conftest import small  # noqa: E402

from bertlab import pretrain_steps, train  # noqa: E402


@pytest.mark.parametrize("family,packing", [("bert", True), ("albert", False),
                                            ("spanbert", False)])
def test_batch_spec_is_what_the_pipeline_yields(family, packing, tmp_path):
  c = small(family, str(tmp_path), "")
  c.data.packing = packing
  _, it, _ = train.build_data(c, str(tmp_path))
  batch = next(it)
  spec = pretrain_steps.batch_spec(c)
  assert sorted(spec) == sorted(batch)
  for k, v in batch.items():
    assert (spec[k].shape, spec[k].dtype) == (v.shape, v.dtype), k


def test_scan_layers_none_follows_the_mesh_platform():
  c = small("electra", "", "")
  enc, gen = pretrain_steps.encoders(c, "tpu")
  assert enc.scan_layers is True and gen.scan_layers is True  # a TPU compile scans, from any host
  enc, gen = pretrain_steps.encoders(c, "cpu")
  assert enc.scan_layers is False and gen.scan_layers is False
  c.model.scan_layers = True
  assert pretrain_steps.encoders(c, "cpu")[0].scan_layers is True  # an explicit choice stays


def test_build_steps_compiles_from_shapes_alone():
  from bertlab.training import mesh as mesh_lib
  from bertlab.training import step as step_lib
  c = small("roberta", "", "")
  c.model.num_layers = 1
  spec = pretrain_steps.batch_spec(c)
  steps = pretrain_steps.build_steps(c, mesh_lib.make_mesh((1, 1, 1), jax.devices()[:1]), spec)
  compiled, _, _ = step_lib.compile_ahead(steps, spec)
  assert compiled.memory_analysis().argument_size_in_bytes > 0
