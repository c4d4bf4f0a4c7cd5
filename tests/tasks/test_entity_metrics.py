import pytest

from bertlab.tasks.entity_metrics import (check_tags, entity_f1, entity_spans,
                                          first_iob2_violation, iob1_to_iob2)


@pytest.mark.parametrize("tags,spans", [
    (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 1), ("LOC", 3, 3)]),
    # IOB1: I- opens an entity; B- separates two adjacent entities of one type.
    (["I-PER", "I-PER", "B-PER", "O", "I-LOC"], [("PER", 0, 1), ("PER", 2, 2), ("LOC", 4, 4)]),
    (["O", "I-MISC", "I-MISC"], [("MISC", 1, 2)]),
    # A type change mid-entity closes it and opens a new one.
    (["B-ORG", "I-ORG", "I-PER", "I-PER"], [("ORG", 0, 1), ("PER", 2, 3)]),
    (["B-PER", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 1)]),
    (["B-PER", "O", "I-PER"], [("PER", 0, 0), ("PER", 2, 2)]),
    (["B-PER", "B-PER"], [("PER", 0, 0), ("PER", 1, 1)]),
    (["S-PER", "B-LOC", "E-LOC", "O"], [("PER", 0, 0), ("LOC", 1, 2)]),  # IOBES
    (["O", "O"], []),
    ([], []),
])
def test_entity_spans_conlleval_rules(tags, spans):
  assert entity_spans(tags) == spans


def test_seqeval_readme_example():
  # seqeval's README: f1_score = 0.50, MISC scores 0 and PER scores 1.
  y_true = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
  y_pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
  out = entity_f1(y_true, y_pred)
  assert (out["precision"], out["recall"], out["f1"]) == pytest.approx((0.5, 0.5, 0.5))
  assert out["per_type"]["MISC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
  assert out["per_type"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}


def test_entity_f1_hand_computed_with_type_error_and_split_entity():
  y_true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG", "O"]]
  # Sentence 1: PER right, LOC predicted as ORG. Sentence 2: a type change splits the ORG
  # into ORG(0,0) + PER(1,1) + ORG(2,2): three wrong entities.
  y_pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "I-PER", "I-ORG", "O"]]
  out = entity_f1(y_true, y_pred)
  # 1 correct of 5 predicted and 3 true.
  assert out["precision"] == pytest.approx(1 / 5)
  assert out["recall"] == pytest.approx(1 / 3)
  assert out["f1"] == pytest.approx(2 * (1 / 5) * (1 / 3) / (1 / 5 + 1 / 3))
  assert out["per_type"]["PER"]["precision"] == pytest.approx(1 / 2)
  assert out["per_type"]["PER"]["recall"] == 1.0
  assert out["per_type"]["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
  assert out["per_type"]["LOC"]["support"] == 1


def test_iob1_scores_like_its_iob2_conversion():
  iob1 = [["I-PER", "I-PER", "B-PER", "O", "I-LOC"], ["O", "I-ORG"]]
  iob2 = [iob1_to_iob2(s) for s in iob1]
  assert iob2 == [["B-PER", "I-PER", "B-PER", "O", "B-LOC"], ["O", "B-ORG"]]
  assert entity_f1(iob1, iob2)["f1"] == 1.0
  assert all(first_iob2_violation(s) is None for s in iob2)
  assert first_iob2_violation(iob1[0]) == 0
  assert first_iob2_violation(["B-PER", "I-LOC"]) == 1


def test_errors_are_clear():
  with pytest.raises(ValueError, match="sentence 0: expected 2 predicted tags"):
    entity_f1([["O", "O"]], [["O"]])
  with pytest.raises(ValueError, match="expected as many predicted sentences"):
    entity_f1([["O"]], [])
  with pytest.raises(ValueError, match="token 1: expected a tag 'O', 'B-TYPE' .* found 'PER'"):
    check_tags(["O", "PER"])
