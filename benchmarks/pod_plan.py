"""The pod plan of benchmarks/POD.md: five pretraining configs compiled for three TPU topologies.

  python benchmarks/pod_plan.py --out runs/pod_plan [--timeout 900]     # compile (slow, resumable)
  python benchmarks/pod_plan.py --out runs/pod_plan --table            # the table from what finished

Each (config, topology, mesh, grad_accum_steps) is one `benchmarks/aot.py` run in its own process
(a compile that runs out of time or memory loses only itself), writing OUT/NAME.json; a run whose
JSON exists is not compiled again. Pass 1 compiles FSDP over every chip (data x FSDP where a
parameter cannot be split over every chip); pass 2 raises
grad_accum_steps (2, 4, 8) for what did not fit; pass 3 compiles the other candidates: data
parallel over every chip (parameters and optimizer state replicated on each chip) and FSDP x
tensor 4. `--table` prints the markdown table (the fastest fitting mesh per config and topology,
and which meshes were compiled) and writes OUT/plan.json.

  --only bert-base@v5e:16x16,bert-base@v5e:16x16@data,bert-base@v5e:16x16@tensor4

compiles those rows alone: FSDP by default, `@data` or `@tensor4` for the other two meshes.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# In the order compiled: 256 chips compile slowest.
TOPOLOGIES = {"v4:4x4x4": 64, "v5p:4x4x8": 128, "v5e:16x16": 256}
# name: (config, extra overrides, paper steps, the paper's hardware and time)
MODELS = {
    "bert-base": ("configs/bert_base.py", ["--config.model.dtype=bfloat16"], 1_000_000,
                  "4 Cloud TPUs (16 chips), 4 days (§A.2)"),
    "bert-large": ("configs/bert_large.py", [], 1_000_000,
                   "16 Cloud TPUs (64 chips), 4 days (§A.2)"),
    "roberta-large": ("configs/roberta_large.py", [], 500_000,
                      "1024 V100 GPUs, ~1 day per 100k steps (§5)"),
    "albert-xxlarge": ("configs/albert_xxlarge.py", [], 125_000,
                       "Cloud TPU v3, 64 to 512 TPUs (§4.1); time not reported"),
    "electra-large": ("configs/electra_large.py", [], 400_000,
                      "TPUs; the paper reports FLOPs, not wall time"),
}


def _name(model, topo, mesh, accum):
  return f"{model}__{topo.replace(':', '_')}__{'x'.join(map(str, mesh))}__ga{accum}"


def _children_cpu() -> float:
  r = resource.getrusage(resource.RUSAGE_CHILDREN)
  return r.ru_utime + r.ru_stime


def run_one(out, model, topo, mesh, accum, timeout) -> dict | None:
  """The report of one compile (None when it timed out, now or in an earlier run with at
  least this timeout: a timeout is recorded so that a resumed plan moves on)."""
  path = os.path.join(out, _name(model, topo, mesh, accum) + ".json")
  if os.path.exists(path):
    with open(path) as f:
      r = json.load(f)
    if "timed_out_s" not in r:
      return r
    if r["timed_out_s"] >= timeout:
      return None
  config, extra, _, _ = MODELS[model]
  cmd = [sys.executable, os.path.join(ROOT, "benchmarks", "aot.py"), f"--config={config}",
         f"--topology={topo}", f"--mesh_shape={tuple(mesh)}", f"--json={path}",
         f"--config.grad_accum_steps={accum}", *extra]
  t = time.perf_counter()
  cpu = _children_cpu()
  try:
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
  except subprocess.TimeoutExpired:
    print(f"{_name(model, topo, mesh, accum)}: no result within {timeout}s", flush=True)
    with open(path, "w") as f:  # the CPU seconds it got: a loaded host, or a slow compile?
      json.dump({"timed_out_s": timeout, "cpu_s": round(_children_cpu() - cpu),
                 "command": " ".join(cmd[1:])}, f)
    return None
  if p.returncode or not os.path.exists(path):
    err = (p.stderr.strip().splitlines() or ["?"])[-1]
    print(f"{_name(model, topo, mesh, accum)}: failed: {err[:300]}", flush=True)
    result = {"failed": err, "command": " ".join(cmd[1:])}
    with open(path, "w") as f:
      json.dump(result, f)
    return result
  with open(path) as f:
    r = json.load(f)
  r["command"] = "python " + " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c
                                      for c in cmd[1:] if not c.startswith("--json"))
  with open(path, "w") as f:
    json.dump(r, f, indent=2)
  print(f"{_name(model, topo, mesh, accum)}: {r.get('verdict')} in {time.perf_counter() - t:.0f}s",
        flush=True)
  return r


# Compiled first: each model once on 64 chips, then 128; 256 chips compile slowest (the
# SPMD partitioner's time grows with the device count), so they come last.
FIRST = (("bert-base", "v4:4x4x4"), ("bert-large", "v4:4x4x4"), ("albert-xxlarge", "v4:4x4x4"),
         ("electra-large", "v4:4x4x4"), ("roberta-large", "v4:4x4x4"))


def _cannot_shard(r) -> bool:
  return r is not None and "cannot shard" in r.get("failed", "")


def run_fsdp(out, model, topo, accum, timeout):
  """FSDP over every chip; where a parameter cannot be split that far (ALBERT's E = 128 rows
  over 256 chips), data x FSDP with the data axis doubled until it shards."""
  n, data = TOPOLOGIES[topo], 1
  r = run_one(out, model, topo, (1, n, 1), accum, timeout)
  while _cannot_shard(r) and data < 8:
    data *= 2
    r = run_one(out, model, topo, (data, n // data, 1), accum, timeout)
  return r


MESHES = {  # the candidates besides FSDP (pass 3), by the name --only gives them
    "data": lambda n: (n, 1, 1),
    "tensor4": lambda n: (1, n // 4, 4),
}


def compile_all(out, timeout, only=()):
  """Every pass below, or with `only` ((model, topology, mesh kind), ...) those alone, in order
  (several plans can then share a host's cores, each on its own rows)."""
  os.makedirs(out, exist_ok=True)
  if only:
    for model, topo, kind in only:
      if kind == "fsdp":
        run_fsdp(out, model, topo, 1, timeout)
      else:
        run_one(out, model, topo, MESHES[kind](TOPOLOGIES[topo]), 1, timeout)
    return
  for model, topo in FIRST:
    run_fsdp(out, model, topo, 1, timeout)
  for topo in TOPOLOGIES:                                # pass 1: FSDP (x data if it must)
    for model in MODELS:
      run_fsdp(out, model, topo, 1, timeout)
  for model in MODELS:                                   # pass 2: accumulate what did not fit
    for topo in TOPOLOGIES:
      accum = 1
      r = run_fsdp(out, model, topo, accum, timeout)
      while r is not None and r.get("fits") is False and accum < 8:
        accum *= 2
        r = run_fsdp(out, model, topo, accum, timeout)
  for model in MODELS:                                   # pass 3: data; FSDP x tensor 4
    for topo, n in TOPOLOGIES.items():
      for mesh in MESHES.values():
        run_one(out, model, topo, mesh(n), 1, timeout)


def _failure(r) -> str:
  """One short cause of a failed compile, with its mesh."""
  cmd = r.get("command", "")
  mesh = cmd.split("--mesh_shape=")[1].split(")")[0] + ")" if "--mesh_shape=" in cmd else "?"
  text = r["failed"].removeprefix("error: ")
  cause, _, detail = text.partition(" on mesh ")
  first = detail.split("; ")[1] if detail.count("; ") else ""  # e.g. one parameter that fails
  return f"{cause} on mesh {mesh}" + (f": {first}, ..." if first else "")


def table(out) -> str:
  rows, plan = [], {}
  gib = 1 << 30
  results = {}
  for path in sorted(glob.glob(os.path.join(out, "*__*.json"))):
    model, topo, _, _ = os.path.basename(path)[:-5].split("__")
    with open(path) as f:
      results.setdefault((model, topo.replace("_", ":", 1)), []).append(json.load(f))
  head = ("| model | topology | fits? | best mesh (d,f,t) | grad accum | per-chip memory (GiB) | "
          "collective bytes/step (per chip) | est. step (ms) | est. tokens/s/chip | est. MFU | "
          "est. days for the paper's steps | paper's hardware and time |\n|---|---|---|---|---|"
          "---|---|---|---|---|---|---|")
  for model, (_, _, steps, paper) in MODELS.items():
    for topo in TOPOLOGIES:
      tried = results.get((model, topo), [])
      rs = [r for r in tried if "verdict" in r]
      late = [r["timed_out_s"] for r in tried if "timed_out_s" in r]
      fit = sorted((r for r in rs if r.get("fits")), key=lambda r: r["estimate"]["step_s"])
      if not rs:
        notes = [r["note"] for r in tried if "note" in r]
        failed = [r for r in tried if "failed" in r]
        why = (notes[0] if notes else f"compile ran past {max(late) // 60} min on the shared host"
               if late else _failure(failed[-1]) if failed else "not reached")
        rows.append(f"| {model} | {topo} | not compiled here ({why}) | | | | | | | | | "
                    f"{paper} |")
        continue
      if not fit:
        smallest = min(rs, key=lambda r: r.get("memory", {}).get("total_bytes", 1 << 62))
        mem = smallest.get("memory", {}).get("total_bytes")
        rows.append(f"| {model} | {topo} | NO | {tuple(smallest['mesh'].values())} | "
                    f"{smallest['grad_accum_steps']} | "
                    f"{mem / gib:.1f} of {smallest['hbm_bytes'] / gib:.0f}" if mem else "?")
        rows[-1] += " | | | | | | " + paper + " |"
        continue
      b = fit[0]
      e = b["estimate"]
      plan[f"{model} {topo}"] = b
      rows.append(
          f"| {model} | {topo} | yes | {tuple(b['mesh'].values())} | {b['grad_accum_steps']} | "
          f"{b['memory']['total_bytes'] / gib:.2f} of {b['hbm_bytes'] / gib:.0f} | "
          f"{b['collective_bytes'] / 1e9:.2f} GB | {e['step_s'] * 1e3:.0f} ({e['bound']}) | "
          f"{e['tokens_per_s_per_chip']:,.0f} | {e['mfu']:.0%} | "
          f"{e['step_s'] * steps / 86400:.2f} | {paper} |")
  with open(os.path.join(out, "plan.json"), "w") as f:
    json.dump(plan, f, indent=2)
  compared = ["", "Rows with more than one mesh compiled (estimated step; the best is in the "
              "table):", ""]
  for (model, topo), tried in sorted(results.items()):
    rs = [r for r in tried if "verdict" in r]
    if len(rs) > 1:
      compared.append(f"- {model} on {topo}: " + "; ".join(
          f"{tuple(r['mesh'].values())} x{r['grad_accum_steps']} "
          + (f"{r['estimate']['step_s'] * 1e3:.0f} ms ({r['estimate']['bound']}), "
             f"{r['collective_bytes'] / 1e9:.2f} GB in "
             f"{sum(c['count'] for c in r.get('collectives', {}).values())} collectives, "
             f"{r['memory']['total_bytes'] / gib:.2f} GiB" if r.get("fits") else
             f"does not fit ({r.get('memory', {}).get('total_bytes', 0) / gib:.1f} GiB)")
          for r in sorted(rs, key=lambda r: (not r.get("fits"), r["estimate"]["step_s"]
                                             if r.get("fits") else 0))))
  commands = ["", "Every compile's command (those that timed out too):", "", "```bash"]
  for (model, topo), tried in sorted(results.items()):
    for r in tried:
      if "command" in r and ("verdict" in r or "timed_out_s" in r):
        cmd = r["command"].replace(sys.executable, "python").replace(ROOT + "/", "")
        cmd = cmd if cmd.startswith("python") else "python " + cmd
        note = (f"  # stopped after {r['timed_out_s']} s" + (
            f" ({r['cpu_s']} s of CPU)" if "cpu_s" in r else "") if "timed_out_s" in r else
                f"  # {r['verdict']}, compiled in {r['compile_s']:.0f} s"
                + (f" ({r['compile_cpu_s']:.0f} s of CPU)" if "compile_cpu_s" in r else ""))
        commands.append(cmd.replace("--mesh_shape=(", "--mesh_shape='(").replace(
            ") --config", ")' --config", 1) + note)
  commands.append("```")
  return (head + "\n" + "\n".join(rows)
          + ("\n".join(compared) if len(compared) > 3 else "") + "\n".join(["", *commands]))


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--out", default="runs/pod_plan")
  p.add_argument("--timeout", type=int, default=900, help="seconds per compile")
  p.add_argument("--table", action="store_true", help="only print the table of what finished")
  p.add_argument("--only", default="", help="MODEL@TOPOLOGY[@MESH],... : compiles of these rows "
                 "alone, in this order (e.g. bert-base@v5p:4x4x8,bert-base@v5e:16x16@data); "
                 f"MESH is fsdp (default) or one of {list(MESHES)}")
  a = p.parse_args()
  only = []
  for x in filter(None, a.only.split(",")):
    model, topo, kind = (x.split("@") + ["fsdp"])[:3] if x.count("@") in (1, 2) else ("", "", "")
    if model not in MODELS or topo not in TOPOLOGIES or kind not in ("fsdp", *MESHES):
      p.error(f"--only {x}: expected MODEL@TOPOLOGY[@MESH] with a model of {list(MODELS)}, a "
              f"topology of {list(TOPOLOGIES)} and a mesh of {['fsdp', *MESHES]}")
    only.append((model, topo, kind))
  if not a.table:
    compile_all(a.out, a.timeout, only)
  print(table(a.out))


if __name__ == "__main__":
  main()
