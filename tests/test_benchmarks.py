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


def _pod_result(mesh, fits, step_s=0.01, gib=1.0):
  return dict(mesh=dict(zip(("data", "fsdp", "tensor"), mesh)), grad_accum_steps=1, fits=fits,
              verdict="FITS" if fits else "DOES NOT FIT", hbm_bytes=16 << 30,
              memory=dict(total_bytes=int(gib * (1 << 30))), collective_bytes=2e9, collectives={"all-gather": dict(count=3, bytes=2e9)},
              estimate=dict(step_s=step_s, bound="ici", tokens_per_s_per_chip=1000.0, mfu=0.1),
              compile_s=60.0, command="python benchmarks/aot.py --mesh_shape=(1, 64, 4) --x")


def test_pod_plan_table_takes_the_fastest_fitting_mesh_and_lists_the_others(tmp_path):
  """The plan's table (no compile: result files as aot.py writes them): the fastest mesh that
  fits is the row's best; every compiled mesh of the row is listed under the table."""
  import importlib.util
  spec = importlib.util.spec_from_file_location("pod_plan", os.path.join(ROOT, "benchmarks",
                                                                         "pod_plan.py"))
  pod_plan = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(pod_plan)
  for mesh, r in [((1, 256, 1), _pod_result((1, 256, 1), True, 0.029)),
                  ((1, 64, 4), _pod_result((1, 64, 4), True, 0.003)),
                  ((256, 1, 1), _pod_result((256, 1, 1), False, gib=20.0))]:
    name = pod_plan._name("bert-base", "v5e:16x16", mesh, 1)
    (tmp_path / f"{name}.json").write_text(json.dumps(r))
  text = pod_plan.table(str(tmp_path))
  row = [line for line in text.splitlines() if line.startswith("| bert-base | v5e:16x16")][0]
  assert "| yes | (1, 64, 4) |" in row and "| 3 (ici) |" in row
  listed = [line for line in text.splitlines() if line.startswith("- bert-base on v5e:16x16")][0]
  assert listed.index("(1, 64, 4)") < listed.index("(1, 256, 1)") < listed.index("(256, 1, 1)")
  assert "(256, 1, 1) x1 does not fit (20.0 GiB)" in listed
  plan = json.loads((tmp_path / "plan.json").read_text())
  assert plan["bert-base v5e:16x16"]["mesh"] == dict(data=1, fsdp=64, tensor=4)
  bad = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "pod_plan.py"), "--out",
                        str(tmp_path), "--only", "bert-base@v5e:16x16@pipeline"],
                       capture_output=True, text=True, timeout=120)
  assert bad.returncode == 2 and "a mesh of ['fsdp', 'data', 'tensor4']" in bad.stderr
