"""The per-step example-id log (data.record_example_ids): joined over processes by rows, and
trimmed to the resume step like metrics.jsonl, also for processes a resumed run no longer has."""

import json

import numpy as np
import pytest

from bertlab.training import batch_log


def _write(workdir, index, count, rows, steps, resume=0, base=0):
  log = batch_log.BatchLog(str(workdir), index, count, rows, resume)
  for s in steps:
    log.write(s, base + 100 * s + np.arange(rows[0], rows[1]))
  log.close()


def test_processes_join_by_rows_and_a_resume_on_fewer_drops_their_later_lines(tmp_path):
  for i in range(2):  # 2 processes, rows [0, 4) and [4, 8), steps 1..5
    _write(tmp_path, i, 2, (4 * i, 4 * i + 4), range(1, 6))
  got = batch_log.read(str(tmp_path))
  assert sorted(got) == [1, 2, 3, 4, 5]
  np.testing.assert_array_equal(got[3], 300 + np.arange(8))
  # Resumed at step 2 on 1 process: process 1's file is trimmed by process 0.
  _write(tmp_path, 0, 1, (0, 8), [3, 4], resume=2, base=10_000)
  got = batch_log.read(str(tmp_path))
  assert sorted(got) == [1, 2, 3, 4]
  np.testing.assert_array_equal(got[2], 200 + np.arange(8))
  np.testing.assert_array_equal(got[4], 10_400 + np.arange(8))


def test_rows_that_do_not_tile_a_batch_and_wrong_widths_are_errors(tmp_path):
  _write(tmp_path, 0, 2, (0, 4), [1])
  _write(tmp_path, 1, 2, (5, 8), [1])
  with pytest.raises(ValueError, match="do not tile"):
    batch_log.read(str(tmp_path))
  log = batch_log.BatchLog(str(tmp_path / "w"), 0, 1, (0, 4))
  with pytest.raises(ValueError, match="expected the ids of rows"):
    log.write(1, np.arange(3))
  log.close()
  line = json.loads(open(batch_log.path_of(str(tmp_path), 0)).readline())
  assert line == {"step": 1, "rows": [0, 4], "ids": [100, 101, 102, 103]}
