"""train.py as two hosts (2 processes x 2 CPU devices, gloo) gives one 4-device process's losses."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = os.path.join(ROOT, "tests", "training", "small_cfg.py")


def _losses(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r["loss"] for r in map(json.loads, f) if "loss" in r]


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_hosts_match_one_host(tmp_path):
  # Dropout off: its masks are drawn per position of the global batch, whose row order
  # differs between one host and two (each host contributes its own shard of examples).
  common = [sys.executable, os.path.join(ROOT, "train.py"), f"--config={CFG}:bert",
            f"--config.data.tokenizer_dir={tmp_path / 'tok'}", "--config.total_steps=6",
            "--config.model.hidden_dropout=0.0", "--config.model.attention_dropout=0.0",
            "--config.log_every_steps=1", "--config.checkpoint_every_steps=3"]
  env = lambda n: dict(os.environ, JAX_PLATFORMS="cpu",
                       XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
  one = subprocess.run(common + [f"--workdir={tmp_path / 'one'}"], env=env(4),
                       capture_output=True, text=True, timeout=600)
  assert one.returncode == 0, one.stderr[-3000:]
  port = _free_port()
  procs = [subprocess.Popen(common + [f"--workdir={tmp_path / 'two'}",
                                      f"--coordinator_address=127.0.0.1:{port}",
                                      "--num_processes=2", f"--process_id={i}"],
                            env=env(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(2)]
  outs = [p.communicate(timeout=600) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  assert "2 process(es)" in outs[0][0]
  np.testing.assert_allclose(_losses(tmp_path / "two"), _losses(tmp_path / "one"), rtol=1e-5)
  assert os.path.isdir(tmp_path / "two" / "checkpoints" / "6")
