"""Drivers keep freed host memory: XLA:CPU's per-call temporaries stop page-faulting."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Both probes: memory retained (or not) before JAX starts, then a function with 128 MB of
# temporaries per call.
PRELUDE = """
import resource, sys
from bertlab.training import host_memory
applied = host_memory.retain_freed_memory()
import jax, jax.numpy as jnp
def f(a, b):
  y = a @ b
  return jnp.cumsum(y, axis=0)[-1].sum() + jnp.sort(y[:, 0]).sum()
a, b = jnp.ones((4096, 8)), jnp.ones((8, 4096))
faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
"""

# 30 calls while the retained heap settles (it still grows now and then while a single arena's
# free space fragments), then 30 calls counted.
SETTLED = PRELUDE + """
f = jax.jit(f)
for _ in range(30): f(a, b).block_until_ready()
r0 = faults()
for _ in range(30): f(a, b).block_until_ready()
late = host_memory.retain_freed_memory()
print(applied, late, faults() - r0)
"""


def _python(script, *args, env_extra=None):
  # XLA's default optimisations (not the suite's quick-compile flags): this measures a
  # compiled program's memory traffic, and unoptimised code made the test ~14x slower.
  env = dict(os.environ, PYTHONPATH=ROOT, XLA_FLAGS="", **(env_extra or {}))
  return subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True,
                        text=True, timeout=300, check=True).stdout.split()


def _run(env_extra):
  out = _python(SETTLED, env_extra=env_extra)
  return out[0] == "True", out[1] == "True", int(out[2])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_retained_memory_stops_the_page_faults():
  applied, late, faults = _run({})
  assert applied and not late  # applied before JAX starts; refused once its threads exist
  default_applied, _, default_faults = _run({"BERTLAB_HOST_MALLOC": "default"})
  assert not default_applied
  # glibc's defaults fault every call's 128 MB back in (~32,800 pages a call: ~980,000 in 30).
  # Retained, most calls fault nothing; the one arena's heap still grows by a block now and then
  # while its free space fragments (measured over 8 runs: 0 to 164,000 pages in 30 calls).
  assert default_faults > 300_000
  assert faults < default_faults / 3


# The same function compiled ahead; page faults of its first call, with and without room
# reserved for two of its temporary buffers first.
FIRST_CALL = PRELUDE + """
compiled = jax.jit(f).lower(a, b).compile()
reserved = host_memory.reserve_for_step(compiled) if sys.argv[1] == "reserve" else 0
r0 = faults()
compiled(a, b).block_until_ready()
print(applied, reserved, compiled.memory_analysis().temp_size_in_bytes, faults() - r0)
"""


def _first_call(mode, env_extra=None):
  out = _python(FIRST_CALL, mode, env_extra=env_extra)
  return out[0] == "True", int(out[1]), int(out[2]), int(out[3])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_reserving_room_for_a_step_takes_its_page_faults_out_of_the_first_call():
  applied, reserved, temp, faults = _first_call("reserve")
  assert applied and reserved == 2 * temp and temp > 100 * 2**20
  _, not_reserved, _, faults_without = _first_call("none")
  assert not_reserved == 0
  # Without the room, the first call faults its 128 MB temporary in (~32,800 pages).
  assert faults_without > temp / 4096 * 0.9
  assert faults < 2_000
  # Memory not retained: glibc would give a freed block straight back, so nothing is reserved.
  default_applied, default_reserved, _, _ = _first_call(
      "reserve", {"BERTLAB_HOST_MALLOC": "default"})
  assert not default_applied and default_reserved == 0


def test_a_misspelt_setting_is_a_clear_error(monkeypatch, tmp_path):
  from bertlab import train
  from bertlab.training import host_memory

  monkeypatch.setenv("BERTLAB_HOST_MALLOC", "defualt")
  with pytest.raises(ValueError, match="BERTLAB_HOST_MALLOC='defualt': use 'retain'"):
    host_memory.retain_freed_memory()
  with pytest.raises(SystemExit, match="error: BERTLAB_HOST_MALLOC='defualt'"):
    train.main(["train.py", "--config", os.path.join(ROOT, "configs/tiny/bert.py"),
                "--workdir", str(tmp_path / "run")])
  assert not (tmp_path / "run").exists()  # nothing started, nothing written


def test_only_cpu_runs_retain_memory():
  probe = "from bertlab.training import host_memory; print(host_memory.retain_freed_memory())"
  assert _python(probe, env_extra={"JAX_PLATFORMS": "tpu"}) == ["False"]
  assert _python(probe, env_extra={"JAX_PLATFORMS": "cpu"}) == ["True"]


def test_retention_is_undone_unless_the_run_computes_on_cpu():
  script = """
from bertlab.training import host_memory
host_memory.retain_freed_memory()
print(host_memory.keep_for_platform("cpu"), host_memory.keep_for_platform("tpu"),
      host_memory.reserve(1 << 20))
"""
  assert _python(script) == ["True", "False", "0"]
