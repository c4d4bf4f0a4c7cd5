"""SQuAD exact match and F1, as the official v1.1 and v2.0 evaluation scripts compute them.

Both scripts compare answers after the same normalisation (lowercase, drop ASCII punctuation,
drop the articles a/an/the, collapse whitespace) and take, per question, the best score over
the gold answers. They differ on empty answers: v2.0 drops gold answers that normalise to
nothing, scores an unanswerable question (no gold answer) against the empty prediction, and
gives F1 = 1 when both sides are empty. Scores are on the 0–100 scale, as the scripts print.

One deliberate difference: a question with no prediction scores 0 in both versions (v1.1's
rule; the v2.0 script would stop with a KeyError) and is counted under 'missing'.
"""

import collections
import re
import string
from collections.abc import Mapping, Sequence

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
  """Lowercases, removes punctuation and articles, and collapses whitespace (official order)."""
  text = text.lower()
  text = "".join(ch for ch in text if ch not in _PUNCTUATION)
  text = _ARTICLES.sub(" ", text)
  return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
  """1.0 if the two answers are equal after `normalize_answer`, else 0.0."""
  return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str, empty_matches_empty: bool = True) -> float:
  """Bag-of-tokens F1 between normalised answers (0–1).

  Args:
    empty_matches_empty: v2.0's rule that when either side normalises to nothing the score
      is 1.0 if both do and 0.0 otherwise; False gives v1.1's rule (0.0 for an empty side).
  """
  pred_tokens = normalize_answer(prediction).split()
  gold_tokens = normalize_answer(gold).split()
  if empty_matches_empty and (not pred_tokens or not gold_tokens):
    return float(pred_tokens == gold_tokens)
  num_same = sum((collections.Counter(pred_tokens) & collections.Counter(gold_tokens)).values())
  if num_same == 0:
    return 0.0
  precision = num_same / len(pred_tokens)
  recall = num_same / len(gold_tokens)
  return 2 * precision * recall / (precision + recall)


def _check(predictions: Mapping[str, str], gold: Mapping[str, Sequence[str]], name: str):
  if not gold:
    raise ValueError(f"{name}: expected at least one gold question; found none.")
  for qid, answers in gold.items():
    if isinstance(answers, str):
      raise ValueError(
          f"{name}: question {qid!r}: expected a list of gold answer texts; found the "
          f"string {answers!r}. Wrap it in a list.")
  for qid, text in predictions.items():
    if not isinstance(text, str):
      raise ValueError(
          f"{name}: question {qid!r}: expected the predicted answer as a string; found "
          f"{type(text).__name__}.")


def squad_v1(predictions: Mapping[str, str], gold: Mapping[str, Sequence[str]]) -> dict:
  """SQuAD v1.1 scores.

  Args:
    predictions: {question_id: predicted answer text}; ids not in `gold` are ignored.
    gold: {question_id: [gold answer texts]} (`squad.gold_answers(examples)`).

  Returns:
    {'exact_match', 'f1': 0–100, 'total': questions in gold, 'missing': without a prediction}.
  """
  _check(predictions, gold, "squad_v1")
  em = f1 = 0.0
  for qid, answers in gold.items():
    if qid not in predictions:
      continue
    pred = predictions[qid]
    em += max((exact_match(pred, a) for a in answers), default=0.0)
    f1 += max((token_f1(pred, a, empty_matches_empty=False) for a in answers), default=0.0)
  total = len(gold)
  return {"exact_match": 100.0 * em / total, "f1": 100.0 * f1 / total, "total": total,
          "missing": sum(qid not in predictions for qid in gold)}


def squad_v2(predictions: Mapping[str, str], gold: Mapping[str, Sequence[str]]) -> dict:
  """SQuAD v2.0 scores, overall and split into answerable (HasAns) and unanswerable (NoAns).

  Args:
    predictions: {question_id: predicted text}; '' predicts "no answer".
    gold: {question_id: [gold answer texts]}; an empty list marks an unanswerable question.

  Returns:
    {'exact', 'f1', 'total', 'HasAns_exact', 'HasAns_f1', 'HasAns_total', 'NoAns_exact',
     'NoAns_f1', 'NoAns_total', 'missing'}: the official script's keys; a HasAns_/NoAns_
    group is left out when it has no question, as the script does.
  """
  _check(predictions, gold, "squad_v2")
  exact, f1, has_ans = {}, {}, {}
  for qid, answers in gold.items():
    has_ans[qid] = bool(answers)
    # Gold answers that normalise to nothing count as "no answer" (official rule).
    answers = [a for a in answers if normalize_answer(a)] or [""]
    pred = predictions.get(qid)
    exact[qid] = 0.0 if pred is None else max(exact_match(pred, a) for a in answers)
    f1[qid] = 0.0 if pred is None else max(token_f1(pred, a) for a in answers)

  def summary(qids: list[str], prefix: str) -> dict:
    n = len(qids)
    return {f"{prefix}exact": 100.0 * sum(exact[q] for q in qids) / n,
            f"{prefix}f1": 100.0 * sum(f1[q] for q in qids) / n, f"{prefix}total": n}

  result = summary(list(gold), "")
  for prefix, wanted in (("HasAns_", True), ("NoAns_", False)):
    qids = [q for q in gold if has_ans[q] == wanted]
    if qids:
      result.update(summary(qids, prefix))
  result["missing"] = sum(qid not in predictions for qid in gold)
  return result
