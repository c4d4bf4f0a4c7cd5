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


def num_slices(devices) -> int:
  """How many TPU slices (joined over the data-center network) `devices` span; 1 elsewhere."""
  return len({getattr(d, "slice_index", 0) or 0 for d in devices})


def make_mesh(mesh_shape, devices=None) -> Mesh:
  """A (data, fsdp, tensor) mesh laid out by the devices' physical topology.

  `mesh_utils.create_device_mesh` puts the axes that talk most (tensor, then fsdp) on
  neighbouring chips of the torus, where `jax.devices()` order would not. Devices of several
  slices form a hybrid mesh: the data axis crosses slices over the data-center network (DCN),
  only its gradient all-reduce leaves a slice; fsdp and tensor stay within a slice's ICI."""
  from jax.experimental import mesh_utils

  devices = jax.devices() if devices is None else list(devices)
  shape = resolve_shape(mesh_shape, len(devices))
  slices = num_slices(devices)
  if slices > 1:
    if shape[0] % slices:
      raise ValueError(f"mesh_shape {shape}: the data axis {shape[0]} must divide by the "
                       f"{slices} slices (data parallelism crosses slices over DCN); use a data "
                       f"size that is a multiple of {slices}")
    grid = mesh_utils.create_hybrid_device_mesh(
        (shape[0] // slices,) + shape[1:], (slices, 1, 1), devices,
        allow_split_physical_axes=True)
  elif devices[0].platform == "tpu":
    grid = mesh_utils.create_device_mesh(shape, devices, allow_split_physical_axes=True)
  else:  # CPU and GPU hosts: the order jax lists them in (no torus to follow)
    grid = np.asarray(devices).reshape(shape)
  return Mesh(grid, MESH_AXES)


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
