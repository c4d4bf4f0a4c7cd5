"""Sentence-level metrics for GLUE-style tasks: accuracy, F1, MCC, Pearson, Spearman.

Plain numpy on host arrays, as sklearn and scipy define them, so scores compare directly
with published GLUE numbers. Every metric returns a Python float on the 0–1 scale
(SQuAD's 0–100 scale lives in `squad_eval`). Spans (NER) are in `entity_metrics`.
"""

from collections.abc import Callable, Sequence

import numpy as np


def _pair(predictions, labels, name: str, dtype=None) -> tuple[np.ndarray, np.ndarray]:
  """Checks two 1-D arrays of equal, non-zero length."""
  p_N = np.asarray(predictions, dtype=dtype)
  y_N = np.asarray(labels, dtype=dtype)
  if p_N.ndim != 1 or y_N.ndim != 1 or p_N.shape != y_N.shape:
    raise ValueError(
        f"{name}: expected predictions and labels as two 1-D arrays of the same length; "
        f"found shapes {p_N.shape} and {y_N.shape}. Take argmax over the class axis and "
        "flatten the batches first.")
  if p_N.size == 0:
    raise ValueError(f"{name}: expected at least one example; found none.")
  return p_N, y_N


def accuracy(predictions, labels) -> float:
  """Fraction of `predictions[i] == labels[i]`; both shaped [N]."""
  p_N, y_N = _pair(predictions, labels, "accuracy")
  return float(np.mean(p_N == y_N))


def binary_f1(predictions, labels, positive=1) -> float:
  """F1 of the `positive` class (MRPC, QQP): 2·TP / (2·TP + FP + FN); 0.0 with no positives.

  Args:
    predictions, labels: [N] class ids.
    positive: the class counted as positive.
  """
  p_N, y_N = _pair(predictions, labels, "binary_f1")
  tp = np.sum((p_N == positive) & (y_N == positive))
  fp = np.sum((p_N == positive) & (y_N != positive))
  fn = np.sum((p_N != positive) & (y_N == positive))
  denominator = 2 * tp + fp + fn
  # sklearn's `zero_division` default: no predicted and no true positives scores 0.
  return float(2 * tp / denominator) if denominator else 0.0


def matthews_corrcoef(predictions, labels) -> float:
  """Matthews correlation (CoLA), multiclass form of Gorodkin (2004), as sklearn.

  MCC = (c·s − Σₖ pₖ·tₖ) / sqrt((s² − Σₖ pₖ²)(s² − Σₖ tₖ²)), with c correct predictions,
  s examples, pₖ and tₖ the predicted and true counts of class k. It equals the binary
  (TP·TN − FP·FN) / sqrt(...) formula for two classes. Returns 0.0 when a denominator
  factor is zero (a constant prediction or label), as sklearn does.

  Args:
    predictions, labels: [N] class ids (any hashable values of one kind).
  """
  p_N, y_N = _pair(predictions, labels, "matthews_corrcoef")
  classes, inverse = np.unique(np.concatenate([p_N, y_N]), return_inverse=True)
  n = p_N.size
  p_idx, y_idx = inverse[:n], inverse[n:]
  p_K = np.bincount(p_idx, minlength=classes.size).astype(np.float64)
  t_K = np.bincount(y_idx, minlength=classes.size).astype(np.float64)
  c = float(np.sum(p_idx == y_idx))
  s = float(n)
  cov_ytyp = c * s - p_K @ t_K
  cov_ypyp = s * s - p_K @ p_K
  cov_ytyt = s * s - t_K @ t_K
  if cov_ypyp == 0.0 or cov_ytyt == 0.0:
    return 0.0
  return float(cov_ytyp / np.sqrt(cov_ypyp * cov_ytyt))


def pearson(predictions, labels) -> float:
  """Pearson correlation of two [N] float arrays (STS-B).

  Returns nan when either side is constant (the correlation is undefined; scipy returns
  nan too). Needs N ≥ 2.
  """
  x_N, y_N = _pair(predictions, labels, "pearson", dtype=np.float64)
  if x_N.size < 2:
    raise ValueError(f"pearson: expected at least 2 examples; found {x_N.size}.")
  dx_N = x_N - x_N.mean()
  dy_N = y_N - y_N.mean()
  denominator = np.sqrt((dx_N @ dx_N) * (dy_N @ dy_N))
  if denominator == 0.0:
    return float("nan")
  # Clipped because rounding can carry |r| a hair past 1.
  return float(np.clip((dx_N @ dy_N) / denominator, -1.0, 1.0))


def rankdata(x) -> np.ndarray:
  """Ranks 1..N of a [N] array, ties given their average rank (scipy's 'average')."""
  x_N = np.asarray(x)
  order_N = np.argsort(x_N, kind="stable")
  sorted_N = x_N[order_N]
  # Each run of equal values [start, end) shares the rank (start + 1 + end) / 2.
  is_new_N = np.concatenate([[True], sorted_N[1:] != sorted_N[:-1]])
  run_id_N = np.cumsum(is_new_N) - 1
  starts = np.flatnonzero(is_new_N)
  ends = np.concatenate([starts[1:], [x_N.size]])
  ranks_sorted_N = ((starts + 1 + ends) / 2.0)[run_id_N]
  ranks_N = np.empty(x_N.size, dtype=np.float64)
  ranks_N[order_N] = ranks_sorted_N
  return ranks_N


def spearman(predictions, labels) -> float:
  """Spearman rank correlation of two [N] arrays: Pearson of average ranks (as scipy)."""
  x_N, y_N = _pair(predictions, labels, "spearman", dtype=np.float64)
  return pearson(rankdata(x_N), rankdata(y_N))


METRICS: dict[str, Callable[..., float]] = {
    "accuracy": accuracy,
    "f1": binary_f1,
    "mcc": matthews_corrcoef,
    "pearson": pearson,
    "spearman": spearman,
}


def compute_metrics(names: Sequence[str], predictions, labels) -> dict[str, float]:
  """Evaluates each metric in `names` (keys of `METRICS`), e.g. a GLUE task's `metrics`.

  Returns:
    {name: value}, all on the 0–1 scale.
  """
  unknown = [n for n in names if n not in METRICS]
  if unknown:
    raise ValueError(
        f"compute_metrics: expected metric names among {sorted(METRICS)}; found {unknown}.")
  return {n: METRICS[n](predictions, labels) for n in names}
