"""Means with t-based 95 % confidence intervals, and paired differences.

A replicate is one (pretraining seed, fine-tuning seed) pair. The interval is Student's t over
replicates: mean ± t(0.975, n-1)·s/√n. Fine-tuning replicates of one pretrained model share
its pretraining noise, so with few pretraining seeds the interval describes fine-tuning noise
more than pretraining noise; the study's notes say so.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as scipy_stats


def mean_ci(values, level: float = 0.95) -> dict:
  """{'mean', 'ci' (half-width; nan for n < 2), 'n'} of the finite `values`."""
  x = np.asarray([v for v in values if v is not None and math.isfinite(v)], np.float64)
  n = len(x)
  if n == 0:
    return {"mean": math.nan, "ci": math.nan, "n": 0}
  if n == 1:
    return {"mean": float(x[0]), "ci": math.nan, "n": 1}
  t = float(scipy_stats.t.ppf(0.5 + level / 2, n - 1))
  return {"mean": float(x.mean()), "ci": t * float(x.std(ddof=1)) / math.sqrt(n), "n": n}


def paired(a: dict, b: dict, level: float = 0.95) -> dict:
  """mean_ci of a[k] - b[k] over the keys both have (replicates run in both arms)."""
  keys = sorted(set(a) & set(b))
  out = mean_ci([a[k] - b[k] for k in keys], level)
  out["separated"] = bool(out["n"] >= 2 and abs(out["mean"]) > out["ci"])  # CI excludes 0
  return out


def fmt(summary: dict, digits: int = 1, sign: bool = False) -> str:
  """'72.3 ± 1.4' (or '+0.8 ± 1.1'); '–' when nothing was measured."""
  m, ci = summary["mean"], summary["ci"]
  if not math.isfinite(m):
    return "–"
  head = f"{m:+.{digits}f}" if sign else f"{m:.{digits}f}"
  return head + (f" ± {ci:.{digits}f}" if math.isfinite(ci) else " (n=1)")
