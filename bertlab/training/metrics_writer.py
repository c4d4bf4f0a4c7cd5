"""Where metrics go: a JSONL log and TensorBoard event files in the workdir."""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import sys

import jax

from bertlab.storage import files


def _rows_up_to(path: str, step: int) -> list[str]:
  """The lines of `path` whose step is <= `step` (unreadable lines dropped)."""
  keep = []
  for line in files.read_text(path).splitlines(keepends=True):
    try:
      if int(json.loads(line)["step"]) <= step:
        keep.append(line if line.endswith("\n") else line + "\n")
    except (ValueError, KeyError, TypeError):
      continue  # a line cut by a kill mid-write
  return keep


def _summary_writer():
  """tensorboardX's SummaryWriter, imported without PyTorch: tensorboardX imports torch when it
  can, only to accept torch tensors (we log floats), and that import was a quarter of a tiny
  run's start-up CPU. Where torch is already imported, nothing changes."""
  if "torch" in sys.modules:
    from tensorboardX import SummaryWriter
    return SummaryWriter
  sys.modules["torch"] = None  # `import torch` raises ImportError while this is set
  try:
    from tensorboardX import SummaryWriter
  finally:
    del sys.modules["torch"]
  return SummaryWriter


def _has_module(name: str) -> bool:
  try:
    return importlib.util.find_spec(name) is not None
  except ImportError:  # a parent package is missing
    return False


class MetricsWriter:
  """One JSON object per logged step in WORKDIR/metrics.jsonl; scalars to TensorBoard.

  `resume_step`: the step the run restarts from; rows past it (written before a kill, and
  about to be written again) are dropped, so the log holds one row per step however many
  times the run was resumed. None keeps every row (append)."""

  def __init__(self, workdir: str, enabled: bool = True, resume_step: int | None = None):
    self.enabled = enabled and jax.process_index() == 0
    if not self.enabled:
      return
    files.makedirs(workdir)
    self.path = files.join(workdir, "metrics.jsonl")
    keep = None
    if resume_step is not None and files.exists(self.path):
      keep = _rows_up_to(self.path, resume_step)
    self._jsonl = files.AppendLog(self.path, keep)
    self._tb = None  # TensorBoard files are optional; the JSONL log is not
    if files.is_remote(workdir) and not _has_module("google.cloud.storage"):
      logging.getLogger(__name__).warning(
          "no TensorBoard files in %s: tensorboardX writes gs:// with google-cloud-storage "
          "(pip install google-cloud-storage)", workdir)
      return
    try:
      SummaryWriter = _summary_writer()
      self._tb = SummaryWriter(files.join(workdir, "tensorboard"),
                               purge_step=resume_step + 1 if resume_step else None)
    except ImportError:
      pass

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

  def close(self):
    if self.enabled:
      self._jsonl.close()
      if self._tb is not None:
        self._tb.close()
