"""Meshes follow the TPU topology; several slices put the data axis across them (libtpu)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PROBE = """
import os
os.environ["ALLOW_MULTIPLE_LIBTPU_LOAD"] = "1"
from jax.experimental import topologies
from bertlab.training import mesh as mesh_lib
one = topologies.get_topology_desc("v5e:2x4", "tpu").devices
# Tensor groups on neighbouring chips: 4 wide, a 2x2 block of the torus; 2 wide, adjacent chips.
m = mesh_lib.make_mesh((1, 2, 4), one)
box = lambda g: (max(c[0] for c in g) - min(c[0] for c in g) + 1) * (
    max(c[1] for c in g) - min(c[1] for c in g) + 1)
blocks = all(box([d.coords for d in m.devices[0, f]]) == 4 for f in range(2))
m = mesh_lib.make_mesh((1, 4, 2), one)
pairs = all(sum(abs(a - b) for a, b in zip(*(d.coords for d in m.devices[0, f]))) == 1
            for f in range(4))
print(blocks and pairs)
two = topologies.get_topology_desc("v5e:2x2", "tpu", num_slices=2).devices
print(mesh_lib.num_slices(two), mesh_lib.num_slices(one))
h = mesh_lib.make_mesh((4, 2, 1), two)
print([sorted({d.slice_index for d in h.devices[i].flat}) for i in range(4)])
try:
  mesh_lib.make_mesh((1, 8, 1), two)
except ValueError as e:
  print("error:", e)
"""


def test_topology_meshes_and_slices():
  out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env=dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu"))
  assert out.returncode == 0, out.stderr[-3000:]
  lines = out.stdout.splitlines()
  assert lines[0] == "True"
  assert lines[1] == "2 1"
  # Data rows 0-1 live in slice 0, rows 2-3 in slice 1: only the data axis crosses DCN.
  assert lines[2] == "[[0], [0], [1], [1]]"
  assert "data axis 1 must divide by the 2 slices" in lines[3]
