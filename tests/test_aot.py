"""benchmarks/aot.py compiles the real train step for a TPU topology on this CPU host (libtpu)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = "tests/training/small_cfg.py:bert"
# One thin layer: the compile is what is tested, not the model.
TINY = ["--config.model.num_layers=1", "--config.model.hidden_size=32",
        "--config.model.intermediate_size=64", "--config.model.num_heads=2",
        "--config.batch_size=8", "--config.data.max_seq_len=16",
        "--config.objective.max_predictions=4"]


def _aot(*args, prelude=""):
  code = (prelude + "import runpy, sys; sys.argv = ['aot.py'] + sys.argv[1:]; "
          "runpy.run_path('benchmarks/aot.py', run_name='__main__')")
  return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True,
                        text=True, timeout=300)


def _error_line(out):
  lines = [l for l in out.stderr.splitlines() if l.startswith("error:")]
  assert out.returncode == 2 and len(lines) == 1, out.stderr[-2000:]
  return lines[0]


def test_compiles_a_tiny_config_for_v5e_2x2_and_reports(tmp_path):
  path = tmp_path / "r.json"
  out = _aot(f"--config={SMALL}", "--topology=v5e:2x2", "--mesh_shape=(1,4,1)",
             f"--json={path}", *TINY)
  assert out.returncode == 0, out.stderr[-3000:]
  r = json.loads(path.read_text())
  assert r["chips"] == 4 and r["chip"] == "v5e" and r["mesh"] == {"data": 1, "fsdp": 4, "tensor": 1}
  assert r["hbm_bytes"] == 16 * 2**30 and r["fits"] is True and r["verdict"] == "FITS"
  m = r["memory"]
  assert m["argument_bytes"] > 0 and m["temp_bytes"] > 0 and m["code_bytes"] > 0
  assert m["total_bytes"] == (m["argument_bytes"] + m["output_bytes"] - m["alias_bytes"]
                              + m["temp_bytes"] + m["code_bytes"])
  # The state (params + 2 Adam moments + step + rng) is sharded 4 ways: a quarter per chip,
  # give or take the replicated scalars and dims that do not divide.
  assert r["compile_s"] > 0 and r["flops_per_chip"] > 0
  assert 0 < r["compile_cpu_s"]  # the compile's own work, whatever the host's load
  # FSDP gathers weights and reduces gradients: both kinds appear, with bytes.
  assert r["collectives"]["all-gather"]["count"] > 0 and r["collectives"]["all-gather"]["bytes"] > 0
  assert r["collective_bytes"] == sum(v["bytes"] for v in r["collectives"].values())
  e = r["estimate"]
  assert e["is_estimate"] is True and 0 < e["mfu"] <= 1
  assert e["step_s"] >= max(e["t_compute_s"], e["t_hbm_s"])
  assert abs(e["tokens_per_s_per_chip"] - 8 * 16 / e["step_s"] / 4) < 1e-6 * e["tokens_per_s_per_chip"]
  assert "ESTIMATE" in out.stdout and "FITS" in out.stdout


def test_bad_input_is_one_line_naming_the_choices():
  line = _error_line(_aot(f"--config={SMALL}", "--topology=v9x:2x2", *TINY))
  assert "v9x:2x2" in line and "v5e" in line and "v4" in line
  line = _error_line(_aot(f"--config={SMALL}", "--topology=v5e:2x2", "--mesh_shape=(3,1,1)", *TINY))
  assert "(3, 1, 1)" in line and "(4, 1, 1)" in line and "(1, 4, 1)" in line
  # 2 heads cannot split over a tensor axis of 4; the meshes that do shard are named.
  line = _error_line(_aot(f"--config={SMALL}", "--topology=v5e:2x2", "--mesh_shape=(1,1,4)",
                          *TINY))
  assert "cannot shard" in line and "over tensor = 4" in line and "(4, 1, 1)" in line


def test_without_libtpu_says_how_to_get_it():
  hide = ("import importlib.util as u; f = u.find_spec; "
          "u.find_spec = lambda n, *a: None if n == 'libtpu' else f(n, *a); ")
  line = _error_line(_aot(f"--config={SMALL}", "--topology=v5e:2x2", prelude=hide))
  assert 'pip install -e ".[tpu]"' in line
