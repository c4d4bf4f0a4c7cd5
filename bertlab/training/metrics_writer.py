"""Where metrics go: a JSONL log and TensorBoard event files in the workdir."""

from __future__ import annotations

import json
import math
import os

import jax


class MetricsWriter:
  """One JSON object per logged step in WORKDIR/metrics.jsonl; scalars to TensorBoard."""

  def __init__(self, workdir: str, enabled: bool = True):
    self.enabled = enabled and jax.process_index() == 0
    if not self.enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._jsonl = open(self.path, "a", encoding="utf-8")
    try:
      from tensorboardX import SummaryWriter
      self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))
    except ImportError:  # TensorBoard files are optional; the JSONL log is not
      self._tb = None

  def write(self, step: int, scalars: dict, prefix: str = ""):
    if not self.enabled:
      return
    row = {"step": int(step)}
    for k, v in scalars.items():
      v = float(v)
      row[prefix + k] = v if math.isfinite(v) else str(v)
      if self._tb is not None and math.isfinite(v):
        self._tb.add_scalar(prefix + k, v, int(step))
    self._jsonl.write(json.dumps(row) + "\n")
    self._jsonl.flush()

  def close(self):
    if self.enabled:
      self._jsonl.close()
      if self._tb is not None:
        self._tb.close()
