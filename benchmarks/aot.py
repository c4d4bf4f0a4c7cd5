"""Compile the pretraining step of a config for a TPU topology on this (CPU) host, ahead of time.

  python benchmarks/aot.py --config configs/bert_large.py --topology v5e:16x16 \
      [--mesh_shape="(1,256,1)"|auto] [--num_slices N] [--config.KEY=VALUE ...] [--json OUT]

Needs libtpu (`pip install -e ".[tpu]"`); nothing is allocated and no TPU is touched: the step is
built from abstract shapes (bertlab.pretrain_steps, the same function train.py calls) and
compiled for the topology's devices. It reports, per chip: compile time; memory (arguments,
outputs, temporaries, code) against the chip's HBM, FITS / DOES NOT FIT; model FLOPs from the
architecture count (XLA's own count sees a scanned layer body once, so it is shown but not
used); the collectives of one step from the compiled HLO (kind, count, bytes, loop trips
included); and a roofline ESTIMATE of step time, tokens/s per chip and MFU (formula in
bertlab/training/roofline.py). `--mesh_shape=auto` compiles the candidate meshes (data, FSDP,
FSDP x tensor, data x FSDP; the data axis over slices when --num_slices > 1) and ranks those
that fit by estimated step time.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout
# This host computes on its CPU; libtpu only compiles. Any other process on the host that loaded
# libtpu (every JAX start does, once it is installed) holds its lockfile: compiling is safe beside it.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")

NEEDS_LIBTPU = ('error: aot.py compiles with libtpu, which is not installed: pip install -e ".[tpu]" '
                '(or pip install "libtpu==0.0.42.*")')
EXAMPLES = "v5e:2x2, v5e:16x16, v4:2x2x1, v4:4x4x4, v5p:2x2x1, v5p:4x4x8, v6e:4x4"


def topology_devices(topology: str, num_slices: int = 1):
  """The compile-only devices of `topology` ("v5e:16x16"), over `num_slices` slices."""
  from jax.experimental import topologies

  from bertlab.training.chips import CHIPS

  gen, _, shape = topology.partition(":")
  if gen not in CHIPS or not shape:
    raise ValueError(f"unknown topology {topology!r}: expected GENERATION:SHAPE with a generation "
                     f"of {sorted(CHIPS)}, e.g. {EXAMPLES}")
  # v4 exposes each chip's two cores as one device (megacore), as a v4 pod runs by default.
  kw = {"chip_config_name": "megacore"} if gen == "v4" else {}
  if num_slices > 1:
    kw["num_slices"] = num_slices
  try:
    return list(topologies.get_topology_desc(topology, "tpu", **kw).devices)
  except Exception as e:  # libtpu's own message says what is wrong with the shape
    first = str(e).strip().splitlines()[0]
    raise ValueError(f"topology {topology!r}: {first}; valid shapes are whole hosts, e.g. "
                     f"{EXAMPLES}") from None


def candidate_meshes(n: int, slices: int = 1, heads: int | None = None) -> list[tuple]:
  """(data, fsdp, tensor) shapes worth compiling on n chips: pure data, pure FSDP, FSDP x
  tensor (2, 4, 8 wide, dividing the heads), data x FSDP; the data axis a multiple of `slices`."""
  out = [(n, 1, 1), (slices, n // slices, 1)]
  for t in (2, 4, 8):
    if n % (t * slices) == 0 and (heads is None or heads % t == 0):
      out.append((slices, n // (t * slices), t))
  for d in (2 * slices, 4 * slices, 8 * slices):
    if n % d == 0 and n // d > 1:
      out.append((d, n // d, 1))
  seen = []
  for s in out:
    if s not in seen and math.prod(s) == n and s[0] % slices == 0:
      seen.append(s)
  return seen


def _one_line(e: Exception) -> str:
  return "; ".join(line.strip() for line in str(e).strip().splitlines() if line.strip())


def compile_report(config, devices, mesh_shape) -> dict:
  """Compile `config`'s train step on `devices` laid out as `mesh_shape`: the report (a dict)."""
  from bertlab import pretrain_steps
  from bertlab.training import chips as chips_lib
  from bertlab.training import flops as flops_lib
  from bertlab.training import hlo_collectives, roofline
  from bertlab.training import mesh as mesh_lib
  from bertlab.training import step as step_lib

  n = len(devices)
  chip = chips_lib.chip_of(devices[0])
  mesh = mesh_lib.make_mesh(mesh_shape, devices)
  batch = pretrain_steps.batch_spec(config)
  steps = pretrain_steps.build_steps(config, mesh, batch)
  enc, gen = pretrain_steps.encoders(config, "tpu")
  seq = config.data.max_seq_len
  report = {"mesh": dict(mesh.shape), "chips": n, "chip": chip.name,
            "family": config.family, "batch_size": config.batch_size, "seq_len": seq,
            "grad_accum_steps": config.grad_accum_steps, "dtype": enc.dtype, "remat": enc.remat,
            "hbm_bytes": chip.hbm_bytes}
  cpu = time.process_time()  # every thread of this process: the compile's own work
  try:
    compiled, seconds, cost = step_lib.compile_ahead(steps, batch)
    cpu = time.process_time() - cpu
  except Exception as e:  # XLA refuses a program that cannot fit HBM at all
    msg = _one_line(e)
    if "RESOURCE_EXHAUSTED" in msg or "memory" in msg.lower():
      report.update(fits=False, verdict="DOES NOT FIT", error=msg[:500])
      return report
    raise
  m = compiled.memory_analysis()
  memory = {"argument_bytes": int(m.argument_size_in_bytes),
            "output_bytes": int(m.output_size_in_bytes),
            "alias_bytes": int(m.alias_size_in_bytes),
            "temp_bytes": int(m.temp_size_in_bytes),
            "code_bytes": int(m.generated_code_size_in_bytes)}
  # Donated state: outputs alias arguments, so they are counted once.
  memory["total_bytes"] = (memory["argument_bytes"] + memory["output_bytes"]
                           - memory["alias_bytes"] + memory["temp_bytes"] + memory["code_bytes"])
  fits = memory["total_bytes"] <= chip.hbm_bytes
  flops = flops_lib.train_step_flops(config.family, enc, config.batch_size, seq,
                                     batch["mlm_positions"].shape[1], gen)
  collectives = hlo_collectives.parse(compiled.as_text(), n)
  coll_bytes, wire = hlo_collectives.summary(collectives)
  report.update(
      # Wall time depends on the host's load; CPU time is what the compile itself costs.
      compile_s=seconds, compile_cpu_s=cpu, memory=memory, fits=fits,
      verdict="FITS" if fits else "DOES NOT FIT",
      flops_per_chip=flops / n,
      xla_flops_per_chip=float(cost.get("flops", 0.0)),
      xla_flops_note="XLA's cost analysis counts a scanned (while-loop) body once",
      collectives=collectives, collective_bytes=coll_bytes, collective_wire_bytes=wire,
      estimate=roofline.estimate(
          chip, flops_per_chip=flops / n, argument_bytes=memory["argument_bytes"],
          output_bytes=memory["output_bytes"] - memory["alias_bytes"],
          temp_bytes=memory["temp_bytes"], wire_bytes=wire,
          tokens_per_step=config.batch_size * seq, chips=n))
  return report


def _shards(config, devices, shape) -> str | None:
  """None if `config` can shard on `shape`, else why not (one line). Builds, compiles nothing."""
  from bertlab import pretrain_steps
  from bertlab.training import mesh as mesh_lib

  try:
    mesh = mesh_lib.make_mesh(shape, devices)
    pretrain_steps.build_steps(config, mesh, pretrain_steps.batch_spec(config))
  except ValueError as e:
    return _one_line(e)
  return None


def plan(config, topology: str, mesh_shape, num_slices: int = 1, echo=print) -> dict:
  """The report of one mesh, or with mesh_shape "auto" the ranked reports of the candidates."""
  from bertlab.training import config as config_lib
  from bertlab.training import mesh as mesh_lib

  devices = topology_devices(topology, num_slices)
  n = len(devices)
  if mesh_shape == "auto":
    config_lib.validate(config, n_devices=n)
  heads = config.model.num_heads
  candidates = candidate_meshes(n, num_slices, heads)
  head = {"topology": topology, "num_slices": num_slices, "chips": n}
  if mesh_shape != "auto":
    try:
      shape = mesh_lib.resolve_shape(mesh_shape, n)
    except ValueError as e:
      raise ValueError(f"{_one_line(e)}; meshes for {n} chips include "
                       f"{', '.join(map(str, candidates))}") from None
    config.mesh_shape = shape
    config_lib.validate(config, n_devices=n)
    why = _shards(config, devices, shape)
    if why:
      ok = [s for s in candidates if _shards(config, devices, s) is None]
      raise ValueError(f"{why}; meshes that shard this config on {n} chips: "
                       f"{', '.join(map(str, ok)) or 'none (change batch_size or model sizes)'}")
    r = compile_report(config, devices, shape)
    echo(format_row(r))
    return {**head, **r}
  rows = []
  for shape in candidates:
    why = _shards(config, devices, shape)
    if why:
      rows.append({"mesh": dict(zip(mesh_lib.MESH_AXES, shape)), "skipped": why})
      echo(f"mesh {shape}: skipped ({why[:160]})")
      continue
    r = compile_report(config, devices, shape)
    echo(format_row(r))
    rows.append(r)
  fitting = sorted((r for r in rows if r.get("fits")), key=lambda r: r["estimate"]["step_s"])
  return {**head, "candidates": rows, "ranked": [r["mesh"] for r in fitting],
          "best": fitting[0] if fitting else None}


def format_row(r: dict) -> str:
  mesh = "x".join(str(v) for v in r["mesh"].values())
  if "memory" not in r:
    return f"mesh {mesh}: {r['verdict']} ({r.get('error', '')[:200]})"
  gib = 1 << 30
  m, e = r["memory"], r["estimate"]
  return (f"mesh {mesh} on {r['chips']} {r['chip']} chips: {r['verdict']} "
          f"{m['total_bytes'] / gib:.2f} of {r['hbm_bytes'] / gib:.0f} GiB per chip "
          f"(arguments {m['argument_bytes'] / gib:.2f}, outputs {m['output_bytes'] / gib:.2f}, "
          f"temporaries {m['temp_bytes'] / gib:.2f}, code {m['code_bytes'] / gib:.3f}); "
          f"compiled in {r['compile_s']:.1f}s ({r.get('compile_cpu_s', 0):.1f}s of CPU); "
          f"{r['flops_per_chip'] / 1e12:.2f} TFLOPs per chip per step; "
          f"collectives {r['collective_bytes'] / 1e6:.1f} MB/step "
          + " ".join(f"{k}x{v['count']}" for k, v in sorted(r["collectives"].items()))
          + f"; ESTIMATE {e['step_s'] * 1e3:.1f} ms/step ({e['bound']}-bound), "
          f"{e['tokens_per_s_per_chip']:,.0f} tokens/s/chip, MFU {e['mfu']:.0%}")


def main(argv=None) -> int:
  from absl import flags
  from ml_collections import config_flags

  argv = sys.argv if argv is None else argv
  fl = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "config file (configs/...py)", flag_values=fl,
                                  lock_config=True, sys_argv=list(argv))
  flags.DEFINE_string("topology", None, f"GENERATION:SHAPE, e.g. {EXAMPLES}", flag_values=fl)
  flags.DEFINE_string("mesh_shape", None, "(data,fsdp,tensor), or auto; default: the config's",
                      flag_values=fl)
  flags.DEFINE_integer("num_slices", 1, "slices joined over DCN (data axis crosses them)",
                       flag_values=fl)
  flags.DEFINE_string("json", None, "write the report here", flag_values=fl)
  flags.DEFINE_integer("phase", 0, "which of config.phases to compile (each has its own "
                       "max_seq_len); ignored without phases", flag_values=fl)
  try:
    fl(argv)
  except (AttributeError, KeyError, ValueError, flags.Error) as e:
    from bertlab.training.cli import explain_flag_error
    print("error: bad command line: " + explain_flag_error(e, argv), file=sys.stderr)
    return 2
  if fl.config is None or fl.topology is None:
    print("usage: python benchmarks/aot.py --config CONFIG.py --topology v5e:16x16 "
          "[--mesh_shape=(d,f,t)|auto] [--num_slices N] [--json OUT]", file=sys.stderr)
    return 2
  if importlib.util.find_spec("libtpu") is None:
    print(NEEDS_LIBTPU, file=sys.stderr)
    return 2
  from bertlab.training import config as config_lib
  config = fl.config
  n_phases = len(config_lib.phase_ends(config))
  if not 0 <= fl.phase < n_phases:
    print(f"error: --phase {fl.phase}: this config has phases 0..{n_phases - 1}", file=sys.stderr)
    return 2
  config = config_lib.phase_config(config, fl.phase)
  mesh_shape = fl.mesh_shape or tuple(config.mesh_shape)
  if isinstance(mesh_shape, str) and mesh_shape != "auto":
    try:
      mesh_shape = tuple(int(x) for x in mesh_shape.strip("()[] ").split(",") if x.strip())
    except ValueError:
      print(f"error: --mesh_shape {fl.mesh_shape!r}: expected (data,fsdp,tensor) such as (1,-1,1), "
            "or auto", file=sys.stderr)
      return 2
  t = time.perf_counter()
  try:
    with config.unlocked():
      report = plan(config, fl.topology, mesh_shape, fl.num_slices)
  except ValueError as e:
    print(f"error: {_one_line(e)}", file=sys.stderr)
    return 2
  report["wall_s"] = time.perf_counter() - t
  if mesh_shape == "auto":
    best = report["best"]
    print("ranked (fits, fastest estimate first): "
          + (", ".join("x".join(map(str, m.values())) for m in report["ranked"]) or "none fits"))
    if best is None:
      print("no candidate mesh fits: try bf16 (model.dtype), remat, or grad_accum_steps")
  if fl.json:
    with open(fl.json, "w") as f:
      json.dump(report, f, indent=2, default=str)
  return 0


if __name__ == "__main__":
  sys.exit(main())
