"""Device mesh (data, fsdp, tensor) and the logical-axis rules that place every parameter."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")

# Logical names (on every parameter, see bertlab/encoder) -> mesh axes.
# FSDP shards the model dimension of weights; tensor parallelism splits heads and MLP width.
LOGICAL_AXIS_RULES = (
    ("batch", ("data", "fsdp")),
    ("embed", "fsdp"),
    ("mlp", "tensor"),
    ("heads", "tensor"),
    ("kv", None),
    ("vocab", "tensor"),
    ("layers", None),
)


def resolve_shape(mesh_shape, n_devices: int) -> tuple[int, int, int]:
  """(data, fsdp, tensor) with at most one -1 standing for 'the rest of the devices'."""
  shape = tuple(int(x) for x in mesh_shape)
  if len(shape) != 3:
    raise ValueError(f"mesh_shape: expected 3 sizes (data, fsdp, tensor), got {mesh_shape!r}")
  if shape.count(-1) > 1 or any(x == 0 or x < -1 for x in shape):
    raise ValueError(f"mesh_shape: sizes are positive, with at most one -1; got {shape}")
  known = math.prod(x for x in shape if x != -1)
  if -1 in shape:
    if n_devices % known:
      raise ValueError(f"mesh_shape {shape}: {n_devices} devices do not divide by {known}")
    shape = tuple(n_devices // known if x == -1 else x for x in shape)
  if math.prod(shape) != n_devices:
    raise ValueError(f"mesh_shape {shape} needs {math.prod(shape)} devices; "
                     f"{n_devices} are available (use -1 for 'the rest')")
  return shape


def make_mesh(mesh_shape, devices=None) -> Mesh:
  devices = jax.devices() if devices is None else devices
  shape = resolve_shape(mesh_shape, len(devices))
  return Mesh(np.asarray(devices).reshape(shape), MESH_AXES)


def shardings_of(abstract_boxed, mesh: Mesh):
  """NamedShardings for a pytree whose leaves carry logical axis names (flax boxes)."""
  specs = nn.get_partition_spec(abstract_boxed)
  return nn.logical_to_mesh_sharding(specs, mesh, LOGICAL_AXIS_RULES)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec(("data", "fsdp")))


def check_divisible(abstract, shardings, mesh: Mesh, batch_size: int):
  """Every sharded dimension must divide by its mesh axes: one error listing all that don't."""
  problems = []
  data_par = mesh.shape["data"] * mesh.shape["fsdp"]
  if batch_size % data_par:
    problems.append(f"batch_size {batch_size} over data*fsdp = {data_par} devices")
  flat_a = jax.tree_util.tree_leaves_with_path(abstract)
  flat_s = jax.tree_util.tree_leaves(shardings, is_leaf=lambda x: isinstance(x, NamedSharding))
  for (path, leaf), sh in zip(flat_a, flat_s):
    for dim, axes in zip(leaf.shape, sh.spec):
      if axes is None:
        continue
      n = math.prod(mesh.shape[a] for a in (axes if isinstance(axes, tuple) else (axes,)))
      if dim % n:
        problems.append(f"{jax.tree_util.keystr(path)} dim {dim} over {axes} = {n} devices")
  if problems:
    raise ValueError("these shapes cannot shard on mesh " + str(dict(mesh.shape)) + ":\n  "
                     + "\n  ".join(problems)
                     + "\nchange mesh_shape, batch_size or the model sizes")
