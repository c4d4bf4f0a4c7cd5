"""SQuAD v1.1 / v2.0 questions from the official JSON files or TFDS `squad`.

Every answer is checked against its context (`context[start:start + len(text)] == text`)
when read, because the feature builder locates answers by character offset and a silent
mismatch would train the model on the wrong span.
"""

import dataclasses
import json
import os


@dataclasses.dataclass(frozen=True)
class Answer:
  """An answer span: its text and the character offset where it starts in the context."""
  text: str
  start: int


@dataclasses.dataclass(frozen=True)
class SquadExample:
  """One question over one context paragraph.

  answers: gold answers (several annotators in dev sets; one in train). Empty exactly when
    `is_impossible` (SQuAD v2.0's unanswerable questions).
  """
  qid: str
  title: str
  question: str
  context: str
  answers: tuple[Answer, ...]
  is_impossible: bool = False


def gold_answers(examples: list[SquadExample]) -> dict[str, list[str]]:
  """{question_id: [gold answer texts]}, the `gold` argument of `squad_eval.squad_v1/v2`."""
  return {e.qid: [a.text for a in e.answers] for e in examples}


def _make(qid, title, question, context, answers, is_impossible, where) -> SquadExample:
  if is_impossible:
    # v2.0 files keep the answers of unanswerable questions in 'plausible_answers';
    # 'answers' is empty there, and a non-empty one would contradict the flag.
    if answers:
      raise ValueError(
          f"{where}: question {qid!r} is marked is_impossible but has {len(answers)} "
          "answers; expected none. The file is inconsistent.")
  elif not answers:
    raise ValueError(
        f"{where}: question {qid!r} has no answer and is not marked is_impossible. "
        "Expected at least one answer for a SQuAD v1.1 / answerable v2.0 question.")
  for a in answers:
    if context[a.start:a.start + len(a.text)] != a.text:
      found = context[a.start:a.start + len(a.text)]
      raise ValueError(
          f"{where}: question {qid!r}: answer {a.text!r} expected at character {a.start} "
          f"of the context; found {found!r} there. Fix 'answer_start' (it counts Unicode "
          "characters, not bytes).")
  return SquadExample(qid, title, question, context, tuple(answers), bool(is_impossible))


def read_squad_json(path: str | os.PathLike) -> list[SquadExample]:
  """Reads an official SQuAD JSON file ({'version', 'data': [articles]}); v1.1 or v2.0."""
  path = os.fspath(path)
  with open(path, encoding="utf-8") as f:
    data = json.load(f)
  if not isinstance(data, dict) or not isinstance(data.get("data"), list):
    raise ValueError(
        f"{path}: expected SQuAD JSON, an object with a 'data' list of articles; found "
        f"{type(data).__name__} with keys {sorted(data) if isinstance(data, dict) else '-'}.")
  examples = []
  for a, article in enumerate(data["data"]):
    title = article.get("title", "")
    for p, paragraph in enumerate(article["paragraphs"]):
      context = paragraph["context"]
      for qa in paragraph["qas"]:
        answers = [Answer(x["text"], int(x["answer_start"])) for x in qa.get("answers", [])]
        examples.append(_make(qa["id"], title, qa["question"], context, answers,
                              qa.get("is_impossible", False),
                              f"{path}: data[{a}].paragraphs[{p}]"))
  return examples


def _as_str(value) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_squad_tfds(split: str, version: str = "v1.1",
                    data_dir: str | None = None) -> list[SquadExample]:
  """Reads TFDS `squad/<version>` ('v1.1' or 'v2.0') through `tfds.data_source`."""
  import tensorflow_datasets as tfds

  name = f"squad/{version}"
  source = tfds.data_source(name, split=split, data_dir=data_dir)
  examples = []
  for i in range(len(source)):
    record = source[i]
    texts = [_as_str(t) for t in record["answers"]["text"]]
    starts = [int(s) for s in record["answers"]["answer_start"]]
    where = f"{name}[{split}] record {i}"
    if len(texts) != len(starts):
      raise ValueError(
          f"{where}: expected as many answer texts as answer starts; found {len(texts)} and "
          f"{len(starts)}. The record is corrupt.")
    examples.append(_make(_as_str(record["id"]), _as_str(record["title"]),
                          _as_str(record["question"]), _as_str(record["context"]),
                          [Answer(t, s) for t, s in zip(texts, starts)],
                          bool(record.get("is_impossible", False)), where))
  return examples
