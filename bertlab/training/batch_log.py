"""Which examples every step trained on: a debug log, off by default.

With `--config.data.record_example_ids=True` each process appends one JSON line per step to
WORKDIR/example_ids/process_<i>.jsonl:

  {"step": s, "rows": [lo, hi], "ids": [...]}

`ids` are the global stream positions (bertlab.data.stream) of the examples in this process's
rows [lo, hi) of global batch s; packed, one list per row with -1 on empty slots. Joining the
processes' files by `rows` gives every global batch, whatever the process count, so a test can
check that a resumed run (other host count, other batch size) saw the examples an
uninterrupted one did. Like metrics.jsonl, lines past the step a run resumes from (written
before a kill, about to be written again) are dropped at the restart: each process trims its
own file, and process 0 the files of processes the resumed run no longer has.
"""

from __future__ import annotations

import json

import numpy as np

from bertlab.storage import files
from bertlab.training.metrics_writer import _rows_up_to

FOLDER = "example_ids"


def path_of(workdir: str, process_index: int) -> str:
  return files.join(workdir, FOLDER, f"process_{process_index}.jsonl")


def _trim(path: str, step: int) -> None:
  files.write_text(path, "".join(_rows_up_to(path, step)))


class BatchLog:
  """Appends this process's example ids of each step; rows past `resume_step` are dropped."""

  def __init__(self, workdir: str, process_index: int, process_count: int,
               rows: tuple[int, int], resume_step: int = 0):
    self.path, self.rows = path_of(workdir, process_index), [int(rows[0]), int(rows[1])]
    folder = files.join(workdir, FOLDER)
    files.makedirs(folder)
    keep = _rows_up_to(self.path, resume_step) if files.exists(self.path) else None
    if process_index == 0:  # files of processes this run does not have: nobody else trims them
      for name in files.listdir(folder):
        index = name[len("process_"):-len(".jsonl")]
        if name.startswith("process_") and index.isdigit() and int(index) >= process_count:
          _trim(files.join(folder, name), resume_step)
    self._f = files.AppendLog(self.path, keep)

  def write(self, step: int, ids) -> None:
    ids = np.asarray(ids)
    if ids.shape[0] != self.rows[1] - self.rows[0]:
      raise ValueError(f"step {step}: expected the ids of rows {self.rows} "
                       f"({self.rows[1] - self.rows[0]}), found {ids.shape[0]}")
    self._f.write(json.dumps({"step": int(step), "rows": self.rows,
                              "ids": ids.astype(np.int64).tolist()}) + "\n")

  def close(self) -> None:
    self._f.close()


def read(workdir: str) -> dict[int, np.ndarray]:
  """step -> the global batch's example ids ([B] or packed [B, S]), joined over the processes'
  files by their rows. Raises ValueError if some step's rows do not tile one batch."""
  folder = files.join(workdir, FOLDER)
  parts: dict[int, list] = {}
  for name in files.listdir(folder):
    if not name.endswith(".jsonl"):
      continue
    for line in files.read_text(files.join(folder, name)).splitlines():
      r = json.loads(line)
      parts.setdefault(r["step"], []).append((r["rows"], np.asarray(r["ids"], np.int64)))
  out = {}
  for step, got in sorted(parts.items()):
    got.sort(key=lambda p: p[0][0])
    spans = [rows for rows, _ in got]
    if spans[0][0] != 0 or any(a[1] != b[0] for a, b in zip(spans, spans[1:])):
      raise ValueError(f"step {step}: the processes' rows {spans} do not tile one global batch "
                       "(a file of another run left in the folder?)")
    out[step] = np.concatenate([ids for _, ids in got])
  return out
