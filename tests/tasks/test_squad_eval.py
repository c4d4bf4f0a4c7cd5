import pytest

from bertlab.tasks.squad_eval import (exact_match, normalize_answer, squad_v1, squad_v2,
                                      token_f1)


def test_normalize_answer_official_steps():
  assert normalize_answer("The  Denver Broncos!") == "denver broncos"
  assert normalize_answer("an Apple, a day") == "apple day"
  assert normalize_answer("Theater") == "theater"  # articles only as whole words
  assert normalize_answer("Levi's (Stadium)") == "levis stadium"
  assert normalize_answer(" \t") == ""


def test_exact_match_and_token_f1():
  assert exact_match("the Broncos.", "Broncos") == 1.0
  assert exact_match("Denver Broncos", "Broncos") == 0.0
  # [denver, broncos] vs [denver]: P = 1/2, R = 1.
  assert token_f1("the Denver Broncos", "Denver") == pytest.approx(2 / 3)
  # Repeated tokens count once per occurrence: [a1, a1] vs [a1]: P = 1/2, R = 1.
  assert token_f1("x x", "x") == pytest.approx(2 / 3)
  assert token_f1("", "") == 1.0  # v2.0: both empty agree
  assert token_f1("", "", empty_matches_empty=False) == 0.0  # v1.1
  assert token_f1("Broncos", "") == 0.0


def test_squad_v1_hand_computed():
  gold = {"q1": ["Denver Broncos", "Broncos"], "q2": ["Santa Clara"], "q3": ["1"]}
  preds = {"q1": "the Broncos", "q2": "Santa Clara, California", "extra": "ignored"}
  out = squad_v1(preds, gold)
  # q1: EM 1 (second gold), F1 1. q2: EM 0, F1 with P = 2/3, R = 1 -> 0.8. q3: missing, 0.
  assert out["exact_match"] == pytest.approx(100 / 3)
  assert out["f1"] == pytest.approx(100 * 1.8 / 3)
  assert (out["total"], out["missing"]) == (3, 1)


def test_squad_v2_has_ans_no_ans_breakdown():
  gold = {"a": ["Denver Broncos"], "b": [], "c": [], "d": ["Carolina Panthers"]}
  preds = {"a": "Denver", "b": "", "c": "Panthers", "d": ""}
  out = squad_v2(preds, gold)
  # a: EM 0, F1 2/3; b: 1, 1 (abstained correctly); c: 0, 0; d: 0, 0 (abstained wrongly).
  assert out["exact"] == pytest.approx(25.0)
  assert out["f1"] == pytest.approx(100 * (2 / 3 + 1) / 4)
  assert out["HasAns_exact"] == 0.0
  assert out["HasAns_f1"] == pytest.approx(100 * (2 / 3) / 2)
  assert out["NoAns_exact"] == out["NoAns_f1"] == 50.0
  assert (out["total"], out["HasAns_total"], out["NoAns_total"], out["missing"]) == (4, 2, 2, 0)


def test_squad_v2_drops_empty_gold_and_groups():
  # A gold answer that normalises to nothing counts as "no answer" for scoring.
  out = squad_v2({"a": ""}, {"a": ["the"]})
  assert out["exact"] == 100.0 and out["HasAns_total"] == 1 and "NoAns_total" not in out


def test_errors_are_clear():
  with pytest.raises(ValueError, match="expected a list of gold answer texts"):
    squad_v1({"a": "x"}, {"a": "x"})
  with pytest.raises(ValueError, match="expected the predicted answer as a string"):
    squad_v2({"a": None}, {"a": ["x"]})
  with pytest.raises(ValueError, match="at least one gold question"):
    squad_v1({}, {})
