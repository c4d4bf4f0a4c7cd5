import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from bertlab.tasks.squad import Answer, SquadExample, gold_answers, read_squad_json, read_squad_tfds

CONTEXT = "Super Bowl 50 was played at Levi's Stadium in Santa Clara, California."


def _qa(qid, answers, **extra):
  return {"id": qid, "question": f"question {qid}?",
          "answers": [{"text": t, "answer_start": s} for t, s in answers], **extra}


def _write(tmp_path, qas, version="1.1"):
  data = {"version": version,
          "data": [{"title": "Super_Bowl_50", "paragraphs": [{"context": CONTEXT, "qas": qas}]}]}
  path = tmp_path / "squad.json"
  path.write_text(json.dumps(data), encoding="utf-8")
  return path


def test_reads_v1(tmp_path):
  path = _write(tmp_path, [_qa("q1", [("Levi's Stadium", 28), ("Levi's Stadium", 28)]),
                           _qa("q2", [("Santa Clara", 46)])])
  q1, q2 = read_squad_json(path)
  assert q1 == SquadExample("q1", "Super_Bowl_50", "question q1?", CONTEXT,
                            (Answer("Levi's Stadium", 28),) * 2, False)
  assert gold_answers([q1, q2]) == {"q1": ["Levi's Stadium"] * 2, "q2": ["Santa Clara"]}


def test_reads_v2_unanswerable(tmp_path):
  path = _write(tmp_path, [_qa("q1", [], is_impossible=True,
                               plausible_answers=[{"text": "Santa Clara", "answer_start": 46}]),
                           _qa("q2", [("Santa Clara", 46)], is_impossible=False)], "v2.0")
  q1, q2 = read_squad_json(path)
  assert q1.is_impossible and q1.answers == () and not q2.is_impossible
  assert gold_answers([q1, q2]) == {"q1": [], "q2": ["Santa Clara"]}


def test_errors_name_the_question(tmp_path):
  with pytest.raises(ValueError, match=r"question 'q1': answer 'Santa Clara' expected at "
                                       r"character 45 .* found ' Santa Clar'"):
    read_squad_json(_write(tmp_path, [_qa("q1", [("Santa Clara", 45)])]))
  with pytest.raises(ValueError, match="has no answer and is not marked is_impossible"):
    read_squad_json(_write(tmp_path, [_qa("q1", [])]))
  path = tmp_path / "list.json"
  path.write_text("[]")
  with pytest.raises(ValueError, match="expected SQuAD JSON"):
    read_squad_json(path)


def test_tfds_v1_and_v2_records():
  v1 = [{"id": b"q1", "title": "T", "question": "Where?", "context": CONTEXT,
         "answers": {"text": np.array(["Santa Clara"]), "answer_start": np.array([46])}}]
  with tfds.testing.mock_data(as_data_source_fn=lambda self, split, **kw: v1):
    (example,) = read_squad_tfds("validation")
  assert example == SquadExample("q1", "T", "Where?", CONTEXT, (Answer("Santa Clara", 46),))
  v2 = [{**v1[0], "is_impossible": np.bool_(True),
         "answers": {"text": np.array([], str), "answer_start": np.array([], np.int32)}}]
  with tfds.testing.mock_data(as_data_source_fn=lambda self, split, **kw: v2):
    (example,) = read_squad_tfds("train", version="v2.0")
  assert example.is_impossible and example.answers == ()


def test_tfds_mock_data_reports_corrupt_answers():
  # TFDS's random mock draws answer texts and starts independently: a clear error, not a crash.
  with tfds.testing.mock_data(num_examples=2):
    with pytest.raises(ValueError, match="squad/v1.1"):
      read_squad_tfds("validation")
