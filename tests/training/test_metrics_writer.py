"""The metrics log: one JSONL row per step after a resume, TensorBoard files without PyTorch."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = """
import json, os, sys
from bertlab.training.metrics_writer import MetricsWriter
w = MetricsWriter(sys.argv[1])
for step in (1, 2, 3):
  w.write(step, {"loss": 4.0 - step})
w.close()
had_torch = "torch" in sys.modules
import torch  # still importable afterwards
print(json.dumps({"had_torch": had_torch, "tb": os.listdir(os.path.join(sys.argv[1], "tensorboard"))}))
w = MetricsWriter(sys.argv[1], resume_step=2)  # a resume from step 2 drops step 3's row
w.write(3, {"loss": 0.5})
w.close()
"""


def test_tensorboard_files_without_importing_torch_and_one_row_per_step(tmp_path):
  out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True,
                       text=True, timeout=300, cwd=ROOT)
  assert out.returncode == 0, out.stderr[-3000:]
  r = json.loads(out.stdout.strip().splitlines()[-1])
  assert r["had_torch"] is False and r["tb"]  # event files written, torch never loaded
  rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  assert [(x["step"], x["loss"]) for x in rows] == [(1, 3.0), (2, 2.0), (3, 0.5)]
