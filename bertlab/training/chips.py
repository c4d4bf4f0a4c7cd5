"""Published per-chip figures of TPU generations, and the FLOP/s peak MFU is measured against.

Sources: Cloud TPU system-architecture pages (v4, v5e, v5p, v6e), "key specifications" tables:
peak bf16 compute, HBM capacity and bandwidth, and inter-chip interconnect (ICI) bandwidth per
chip, both directions of all links together (v4 and v5p list it as 2,400 and 4,800 Gbps one
way). These are datasheet peaks: a roofline built on them is an estimate, never a measurement.
"""

from __future__ import annotations

import dataclasses

GIB = 1 << 30


@dataclasses.dataclass(frozen=True)
class Chip:
  name: str                 # the topology prefix: v4, v5e, v5p, v6e
  device_kind: str          # what jax's TPU devices report
  hbm_bytes: int
  bf16_flops: float         # peak FLOP/s per chip
  hbm_bytes_per_s: float
  ici_bytes_per_s: float    # bidirectional, all ICI ports of one chip
  torus_dims: int           # 3 (v4, v5p) or 2 (v5e, v6e)


CHIPS = {
    "v4": Chip("v4", "TPU v4", 32 * GIB, 275e12, 1200e9, 600e9, 3),
    "v5e": Chip("v5e", "TPU v5 lite", 16 * GIB, 197e12, 819e9, 400e9, 2),
    "v5p": Chip("v5p", "TPU v5", 95 * GIB, 459e12, 2765e9, 1200e9, 3),
    "v6e": Chip("v6e", "TPU v6 lite", 32 * GIB, 918e12, 1640e9, 800e9, 2),
}


def chip_of(device) -> Chip | None:
  """The table's row for a jax device (a TPU of a known generation), else None."""
  if device.platform != "tpu":
    return None
  kind = device.device_kind.strip()
  for chip in CHIPS.values():
    if kind == chip.device_kind or kind.lower() == f"tpu {chip.name}":
      return chip
  if kind.lower().startswith("tpu v5p"):
    return CHIPS["v5p"]
  return None


def peak_flops(mesh) -> float:
  """FLOP/s per device that MFU is measured against, for the mesh's devices.

  TPU: the chip's published bf16 peak (what a bf16 run can reach, not a float32 matmul that
  runs at a fraction of it). GPU: a bf16 matmul of 4096^2 measured now. CPU: a float32 matmul
  of 1024^2 measured now (the dtype CPU runs compute in)."""
  import jax.numpy as jnp

  from bertlab.training import flops as flops_lib

  device = mesh.devices.flat[0]
  chip = chip_of(device)
  if chip is not None:
    return chip.bf16_flops
  if device.platform == "gpu":
    return flops_lib.measure_matmul_peak(4096, jnp.bfloat16)
  return flops_lib.measure_matmul_peak(1024)
