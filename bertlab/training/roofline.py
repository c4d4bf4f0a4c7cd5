"""A roofline ESTIMATE of a train step's time on a TPU chip, from datasheet peaks. Not a measurement.

  t_compute = model FLOPs per chip / peak bf16 FLOP/s
  t_hbm     = (arguments + outputs + 2 x temporaries) bytes per chip / HBM bandwidth
              (state read and written once, every temporary written once and read once)
  t_ici     = collective wire bytes per chip / (ICI bandwidth per chip / torus dims)
              (a ring runs along one torus dimension: its two links, both directions)
  step      = max(t_compute, t_hbm) + t_ici   (collectives assumed not overlapped: an upper
              side of the estimate; XLA does overlap some of them with compute)
  tokens/s per chip = batch x seq / step / chips;  MFU = t_compute / step.

Real steps run below every peak (MXU utilisation of BERT-sized matmuls, attention softmax on the
vector unit, host input), so a measured step is longer; use the estimate to compare meshes and
configs, and to see which term bounds a step.
"""

from __future__ import annotations

from bertlab.training.chips import Chip


def estimate(chip: Chip, *, flops_per_chip: float, argument_bytes: int, output_bytes: int,
             temp_bytes: int, wire_bytes: float, tokens_per_step: int, chips: int) -> dict:
  t_compute = flops_per_chip / chip.bf16_flops
  t_hbm = (argument_bytes + output_bytes + 2 * temp_bytes) / chip.hbm_bytes_per_s
  t_ici = wire_bytes / (chip.ici_bytes_per_s / chip.torus_dims)
  step = max(t_compute, t_hbm) + t_ici
  bound = "compute" if t_compute >= max(t_hbm, t_ici) else ("hbm" if t_hbm >= t_ici else "ici")
  return {"t_compute_s": t_compute, "t_hbm_s": t_hbm, "t_ici_s": t_ici, "step_s": step,
          "tokens_per_s_per_chip": tokens_per_step / step / chips, "mfu": t_compute / step,
          "bound": bound, "is_estimate": True}
