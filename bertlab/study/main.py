"""The study's command line and its loop over cells.

  python study.py --config configs/study/objectives_cpu.py --workdir runs/study \
      [--cells=i/N] [--report] [--max_cells=K] [--config.KEY=VALUE ...]

Re-running skips finished cells and resumes a killed pretraining run; `--cells=i/N` runs the
i-th of N deterministic slices (any number of processes or machines may share WORKDIR);
`--report` only rewrites study.{json,md,png}; `--max_cells` stops after K cells.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from bertlab.study import plan as plan_lib
from bertlab.study import report as report_lib
from bertlab.study import runner, spec


def _duration(s: float) -> str:
  s = int(s)
  return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _compilation_cache(directory: str) -> None:
  """Persist compiled programs: the many cells of one shape compile once (measured on a
  loaded 2-core host: a toy fine-tuning cell 38 s -> 14-20 s)."""
  import jax
  from jax.experimental.compilation_cache import compilation_cache

  if jax.config.jax_compilation_cache_dir == directory:
    return
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  compilation_cache.reset_cache()  # JAX decides once per process whether it caches


def run(study, workdir: str, cells: str = "1/1", report_only: bool = False,
        max_cells: int = 0, echo=print, only: str = "") -> dict:
  """Validates everything, then runs this slice's unfinished cells (those `only` selects, see
  `plan.select`), rewriting the report after each; returns the report."""
  spec.validate(study)
  i, n = plan_lib.parse_slice(cells)
  workdir = os.path.abspath(workdir)
  plans = plan_lib.arm_plans(study, workdir)  # a budget below one step fails here
  grid = plan_lib.cells(study, plans)
  chosen = plan_lib.select(grid, only)  # a bad selection fails here, before anything is written
  os.makedirs(workdir, exist_ok=True)
  if report_only:
    return report_lib.write(study, plans, workdir)
  _compilation_cache(study.compilation_cache_dir or os.path.join(workdir, "jax_cache"))
  for name, p in plans.items():
    if p.family is not None:
      echo(f"{name} ({p.family}): {p.steps} steps x {p.flops_per_step / 1e9:.2f} GFLOPs = "
           f"{p.steps * p.flops_per_step / 1e15:.3f} PFLOPs; checkpoints {p.checkpoints}")
  runner.prepare(study, workdir, echo)
  mine = [c for c in plan_lib.take_slice(grid, i, n) if c in chosen]
  todo = [c for c in mine if not runner.is_done(workdir, c)]
  echo(f"grid: {len(grid)} cells; slice {i}/{n}" + (f", --only {only!r}" if only else "")
       + f": {len(mine)}, {len(mine) - len(todo)} done already, {len(todo)} to run")
  logs = os.path.join(workdir, "logs")
  os.makedirs(logs, exist_ok=True)
  report = report_lib.write(study, plans, workdir)
  t_start, ran = time.perf_counter(), 0
  for k, cell in enumerate(todo):
    if max_cells and ran >= max_cells:
      echo(f"stopping after {ran} cells (--max_cells); run again to continue")
      break
    if runner.is_done(workdir, cell):  # another process sharing the workdir did it
      continue
    log_path = os.path.join(logs, cell.id.replace("/", "_") + ".log")
    t0 = time.perf_counter()
    with open(log_path, "a", encoding="utf-8") as log_file:
      def log(msg, f=log_file):
        f.write(f"{msg}\n")
        f.flush()
      result = runner.run_cell(study, plans, cell, workdir, log)
    ran += 1
    report = report_lib.write(study, plans, workdir)
    elapsed = time.perf_counter() - t_start
    eta = elapsed / ran * (len(todo) - k - 1)
    echo(f"[{k + 1}/{len(todo)}] {cell.id}: {result['metric']} {result['score']:.2f} "
         f"({time.perf_counter() - t0:.0f}s); elapsed {_duration(elapsed)}, ETA {_duration(eta)}"
         f"; {report['cells_done']}/{report['cells_total']} cells in the report")
  echo(f"report: {os.path.join(workdir, 'study.md')}")
  return report


def main(argv=None):
  from bertlab.training import cli

  argv = sys.argv if argv is None else argv

  def extra(flags, fl):
    flags.DEFINE_string("cells", "1/1", "run slice i of N of the grid (i/N)", flag_values=fl)
    flags.DEFINE_bool("report", False, "only gather finished cells into the report",
                      flag_values=fl)
    flags.DEFINE_integer("max_cells", 0, "stop after this many cells (0: all)", flag_values=fl)
    flags.DEFINE_string("only", "", "run only the cells matching KEY=V1,V2 ... (arm, "
                        "pretrain_seed, fraction, task, finetune_seed), e.g. 'fraction=1 "
                        "task=sst2'", flag_values=fl)

  fl = cli.parse(argv, config_help="study config (configs/study/...py)",
                 workdir_help="study directory (shared by every slice; re-running resumes)",
                 usage="python study.py --config configs/study/objectives_cpu.py --workdir DIR "
                       "[--cells=i/N] [--only='KEY=V,..'] [--report] [--max_cells=K]",
                 define_extra=extra)
  logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
  try:
    return cli.run_or_exit(lambda c, w: run(c, w, fl.cells, fl.report, fl.max_cells,
                                            only=fl.only),
                           fl.config, fl.workdir)
  except InterruptedError as e:  # SIGTERM: the pretraining run saved its state
    sys.exit(f"interrupted: {e}")


if __name__ == "__main__":
  sys.exit(main())
