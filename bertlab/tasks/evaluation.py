"""From a split's logits to the task's metrics and human-readable predictions.

Metric names are those of eval_results.json: GLUE `metrics.METRICS` keys (accuracy, f1, mcc,
pearson, spearman; 0–1), entity_f1 / entity_precision / entity_recall (0–1), SQuAD
exact_match / f1 (0–100, as the official scripts print).
"""

from __future__ import annotations

import json

import numpy as np

from bertlab.tasks import squad_eval
from bertlab.tasks.entity_metrics import entity_f1
from bertlab.tasks.features import predictions_to_tags
from bertlab.tasks.finetune_data import Split, TaskInfo
from bertlab.tasks.metrics import compute_metrics
from bertlab.tasks.squad import gold_answers
from bertlab.tasks.squad_features import postprocess_squad


def evaluate(info: TaskInfo, split: Split, logits: np.ndarray, config=None):
  """(metrics, predictions) of `logits` over `split`.

  logits: [N, C] (classification), [N, 1] (regression), [N, L, C] (token), [F, L, 2] (span).
  config: supplies n_best, max_answer_len, null_threshold for spans.
  predictions: class names or scores per example, tag lists per sentence, or
  {question id: answer text}.
  """
  logits = np.asarray(logits, np.float64)
  if info.kind == "classification":
    pred_N = logits.argmax(-1)
    gold_N = split.inputs["label"]
    return (compute_metrics(info.metrics, pred_N, gold_N),
            [info.label_names[i] for i in pred_N.tolist()])
  if info.kind == "regression":
    score_N = logits[:, 0]
    return compute_metrics(info.metrics, score_N, split.inputs["label"]), score_N.tolist()
  if info.kind == "token_classification":
    tags = predictions_to_tags(logits.argmax(-1), split.extra,
                               [len(s.tokens) for s in split.examples], info.label_names)
    scores = entity_f1([list(s.tags) for s in split.examples], tags)
    return ({"entity_f1": scores["f1"], "entity_precision": scores["precision"],
             "entity_recall": scores["recall"]}, tags)
  version_2 = info.name == "squad_v2" or any(e.is_impossible for e in split.examples)
  answers = postprocess_squad(
      split.extra, logits[..., 0], logits[..., 1],
      n_best=getattr(config, "n_best", 20), max_answer_len=getattr(config, "max_answer_len", 30),
      version_2=version_2, null_threshold=getattr(config, "null_threshold", 0.0))
  gold = gold_answers(split.examples)
  if version_2:
    s = squad_eval.squad_v2(answers, gold)
    s["exact_match"] = s.pop("exact")
  else:
    s = squad_eval.squad_v1(answers, gold)
  return {k: float(v) for k, v in s.items() if k not in ("total", "missing")}, answers


def write_predictions(path: str, info: TaskInfo, split: Split, predictions) -> str:
  """Writes predictions beside their inputs; returns the file written.

  classification/regression: JSON lines {guid, text_a, text_b, label, prediction};
  token_classification: CoNLL columns 'word gold predicted', blank line between sentences;
  span: the official SQuAD predictions JSON {question id: answer}.
  """
  if info.kind in ("classification", "regression"):
    path += ".jsonl"
    names = info.label_names
    with open(path, "w", encoding="utf-8") as f:
      for e, p in zip(split.examples, predictions):
        gold = names[e.label] if names and e.label is not None else e.label
        f.write(json.dumps({"guid": e.guid, "text_a": e.text_a, "text_b": e.text_b,
                            "label": gold, "prediction": p}, ensure_ascii=False) + "\n")
  elif info.kind == "token_classification":
    path += ".conll"
    with open(path, "w", encoding="utf-8") as f:
      for s, tags in zip(split.examples, predictions):
        f.writelines(f"{w} {g} {p}\n" for w, g, p in zip(s.tokens, s.tags, tags))
        f.write("\n")
  else:
    path += ".json"
    with open(path, "w", encoding="utf-8") as f:
      json.dump(predictions, f, indent=1, ensure_ascii=False)
  return path
