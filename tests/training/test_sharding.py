"""The same losses on every mesh of 8 CPU devices; a shape that cannot shard is a clear error."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(__file__)


def _run(devices=8, **kw):
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices} "
             + os.environ.get("XLA_FLAGS", ""),
             JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, os.path.join(HERE, "mesh_losses.py"), json.dumps(kw)],
                        env=env, capture_output=True, text=True, timeout=600)


def test_losses_agree_across_meshes():
  results = {}
  for shape in [(1, 1, 1), (8, 1, 1), (2, 4, 1), (2, 2, 2)]:
    out = _run(devices=1 if shape == (1, 1, 1) else 8, mesh_shape=list(shape))
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    results[shape] = r["losses"]
  base = np.array(results[(1, 1, 1)])
  assert base[-1] < base[0]
  for shape, losses in results.items():
    np.testing.assert_allclose(losses, base, rtol=2e-5, err_msg=str(shape))


def test_shape_that_cannot_shard_is_a_clear_error_before_compiling():
  out = _run(mesh_shape=[1, 1, 8], hidden=36)  # 4 heads over 8 tensor devices
  assert out.returncode != 0
  assert "cannot shard on mesh" in out.stderr
  assert "heads" in out.stderr or "dim 4" in out.stderr
  out = _run(mesh_shape=[8, 1, 1], batch=6)
  assert "batch_size 6 over data*fsdp = 8" in out.stderr


@pytest.mark.parametrize("shape,msg", [((3, 1, 1), "needs 3 devices"),
                                       ((-1, -1, 1), "at most one -1")])
def test_bad_mesh_shapes(shape, msg):
  from bertlab.training.mesh import resolve_shape
  with pytest.raises(ValueError, match=msg):
    resolve_shape(shape, 8)
  assert resolve_shape((-1, 2, 1), 8) == (4, 2, 1)
