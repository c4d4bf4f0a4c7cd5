import math

import numpy as np
import pytest
import scipy.stats

from bertlab.tasks import metrics

# preds vs labels: TP at 0 and 4, FP at 1, TN at 2, FN at 3.
PRED = [1, 1, 0, 0, 1]
TRUE = [1, 0, 0, 1, 1]


def test_accuracy():
  assert metrics.accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5


def test_binary_f1_hand_computed():
  # 2·TP / (2·TP + FP + FN) = 4 / 6.
  assert metrics.binary_f1(PRED, TRUE) == pytest.approx(2 / 3)
  # Class 0 as positive: TP=1 (2), FP=1 (3), FN=1 (1) -> 2 / 4.
  assert metrics.binary_f1(PRED, TRUE, positive=0) == pytest.approx(0.5)
  assert metrics.binary_f1([0, 0], [0, 0]) == 0.0  # no positives anywhere


def test_mcc_binary_hand_computed():
  # (TP·TN − FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (2 − 1) / sqrt(3·3·2·2).
  assert metrics.matthews_corrcoef(PRED, TRUE) == pytest.approx(1 / 6)
  assert metrics.matthews_corrcoef([1, 0, 1, 0], [1, 0, 1, 0]) == pytest.approx(1.0)
  assert metrics.matthews_corrcoef([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)


def test_mcc_multiclass_and_degenerate():
  # c=3, s=4, true counts (2,1,1), predicted (2,0,2):
  # (3·4 − 6) / sqrt((16 − 8)(16 − 6)) = 6 / sqrt(80).
  assert metrics.matthews_corrcoef([0, 2, 2, 0], [0, 1, 2, 0]) == pytest.approx(6 / math.sqrt(80))
  # A constant prediction has no correlation: 0, as sklearn.
  assert metrics.matthews_corrcoef([1, 1, 1], [0, 1, 1]) == 0.0


def test_pearson_hand_computed():
  # dx = (−1, 0, 1), dy = (−2/3, 1/3, 1/3): 1 / sqrt(2 · 2/3) = sqrt(3) / 2.
  assert metrics.pearson([1, 2, 3], [1, 2, 2]) == pytest.approx(math.sqrt(3) / 2)
  assert math.isnan(metrics.pearson([1, 1, 1], [1, 2, 3]))


def test_spearman_with_ties_hand_computed():
  # Ranks (1, 2.5, 2.5, 4) and (1, 3, 2, 4): 4.5 / sqrt(4.5 · 5) = 3 / sqrt(10).
  assert metrics.spearman([10, 20, 20, 30], [1, 3, 2, 4]) == pytest.approx(3 / math.sqrt(10))


def test_rank_correlations_match_scipy():
  rng = np.random.default_rng(0)
  for _ in range(20):
    n = int(rng.integers(3, 40))
    # Small integer ranges force many ties.
    x = rng.integers(0, 5, n).astype(float)
    y = x + rng.integers(0, 3, n)
    np.testing.assert_allclose(metrics.rankdata(x), scipy.stats.rankdata(x))
    assert metrics.spearman(x, y) == pytest.approx(scipy.stats.spearmanr(x, y).statistic)
    assert metrics.pearson(x, y) == pytest.approx(scipy.stats.pearsonr(x, y).statistic)


def test_compute_metrics_and_errors():
  out = metrics.compute_metrics(("accuracy", "f1"), PRED, TRUE)
  assert out == {"accuracy": pytest.approx(0.6), "f1": pytest.approx(2 / 3)}
  with pytest.raises(ValueError, match="expected metric names among"):
    metrics.compute_metrics(["auc"], PRED, TRUE)
  with pytest.raises(ValueError, match=r"found shapes \(2,\) and \(3,\)"):
    metrics.accuracy([1, 0], [1, 0, 1])
  with pytest.raises(ValueError, match="at least one example"):
    metrics.accuracy([], [])
