"""Confidence intervals and paired differences against hand-computed values."""

import math

import numpy as np
import pytest

from bertlab.study import stats


def test_mean_ci_is_student_t():
  x = [70.0, 72.0, 74.0]  # mean 72, s = 2, n = 3: t(0.975, 2) = 4.302653
  s = stats.mean_ci(x)
  assert s["n"] == 3 and s["mean"] == pytest.approx(72.0)
  assert s["ci"] == pytest.approx(4.302653 * 2 / math.sqrt(3), rel=1e-6)
  # More samples, narrower t: n = 10 uses t(0.975, 9) = 2.262157.
  y = np.arange(10, dtype=float)
  assert stats.mean_ci(y)["ci"] == pytest.approx(2.262157 * y.std(ddof=1) / math.sqrt(10),
                                                 rel=1e-6)


def test_mean_ci_edge_cases():
  assert stats.mean_ci([])["n"] == 0 and math.isnan(stats.mean_ci([])["mean"])
  one = stats.mean_ci([5.0])
  assert one["mean"] == 5.0 and math.isnan(one["ci"])
  assert stats.mean_ci([1.0, float("nan"), 3.0])["n"] == 2  # a diverged run is left out


def test_paired_uses_common_replicates_only():
  a = {(0, 0): 80.0, (0, 1): 82.0, (0, 2): 81.0, (1, 0): 99.0}
  b = {(0, 0): 78.0, (0, 1): 79.0, (0, 2): 80.0}
  d = stats.paired(a, b)  # differences 2, 3, 1
  assert d["n"] == 3 and d["mean"] == pytest.approx(2.0)
  assert d["ci"] == pytest.approx(4.302653 * 1.0 / math.sqrt(3), rel=1e-6)
  assert not d["separated"]  # 2 ± 2.48 includes 0
  tight = stats.paired({0: 3.0, 1: 3.1, 2: 2.9}, {0: 1.0, 1: 1.0, 2: 1.0})
  assert tight["mean"] == pytest.approx(2.0) and tight["separated"]  # 2 ± 0.25


def test_fmt():
  assert stats.fmt({"mean": 72.0, "ci": 1.25}) == "72.0 ± 1.2"
  assert stats.fmt({"mean": 0.5, "ci": 0.25}, sign=True) == "+0.5 ± 0.2"
  assert stats.fmt({"mean": 3.0, "ci": math.nan}) == "3.0 (n=1)"
  assert stats.fmt({"mean": math.nan, "ci": math.nan}) == "–"
