"""The benchmark scripts run and write the figures their public surface promises (tiny sizes)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script, *args):
  out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *args],
                       capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert out.returncode == 0, out.stderr[-3000:]
  return out.stdout


def test_throughput_writes_ours_and_the_reference(tmp_path):
  path = tmp_path / "t.json"
  _run("throughput.py", "--preset", "bert-tiny", "--batch", "2", "--seq", "16", "--steps", "2",
       "--warmup", "1", "--reference", "hf", "--peak-size", "256", "--json", str(path))
  r = json.loads(path.read_text())
  for k in ("tokens_per_s", "step_ms", "mfu", "compile_s"):
    assert r[k] > 0, k
  assert r["reference"]["tokens_per_s"] > 0
  assert r["reference"]["ratio"] == r["tokens_per_s"] / r["reference"]["tokens_per_s"]
  assert r["layers_scanned"] is False  # the default on CPU


def test_throughput_compiles_only_with_the_layers_scanned_when_asked(tmp_path):
  path = tmp_path / "c.json"
  out = _run("throughput.py", "--preset", "bert-tiny", "--batch", "2", "--seq", "16",
             "--compile-only", "--set", "scan_layers=true", "--json", str(path))
  r = json.loads(path.read_text())
  assert r["compile_s"] > 0 and r["layers_scanned"] is True
  assert "(layers scanned)" in out


def test_ablations_time_each_arm(tmp_path):
  path = tmp_path / "a.json"
  out = _run("ablations.py", "--preset", "bert-tiny", "--batch", "2", "--seq", "16", "--steps",
             "2", "--warmup", "1", "--arms", "default,packed rows,remat every layer",
             "--json", str(path))
  arms = [a["arm"] for a in json.loads(path.read_text())["arms"]]
  assert arms == ["default", "remat every layer", "packed rows", "default"]  # ARMS order
  assert "packed rows" in out
