"""Entity spans from BIO tags, IOB1 → IOB2 conversion, and entity-level F1 (CoNLL NER).

Span decoding follows conlleval, the CoNLL shared task's scorer, which seqeval copies in its
default (non-strict) mode. It is lenient, so one decoder reads IOB2 (BIO), IOB1 and the
invalid sequences a tagger emits:
  * an `I-X` after `O`, or at the start, opens an entity (IOB1's usual form);
  * a change of type ends the open entity and opens another (`B-PER I-LOC` is two);
  * `B-X` always opens an entity (IOB1 uses it between two adjacent entities of one type);
  * `E-`/`S-` tags (IOBES) are read as conlleval does.
An entity is counted correct only when its type, first and last token all match.
"""

from collections.abc import Sequence

def _split(tag: str) -> tuple[str, str]:
  """'B-PER' -> ('B', 'PER'); 'O' -> ('O', '_'); a tag with no type gets type '_'."""
  # seqeval's parsing, so an untyped 'B' or 'I' still forms entities of type '_'.
  return tag[0], tag[1:].split("-", maxsplit=1)[-1] or "_"


def _ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
  """Whether an entity ends just before this token (conlleval's endOfChunk)."""
  if prev_tag in ("E", "S"):
    return True
  if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
    return True
  return prev_tag not in ("O", ".") and prev_type != type_


def _starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
  """Whether an entity starts at this token (conlleval's startOfChunk)."""
  if tag in ("B", "S"):
    return True
  if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
    return True
  return tag not in ("O", ".") and prev_type != type_


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
  """Entities of one sentence as (type, first, last) token indices, last inclusive.

  Example: ['B-PER', 'I-PER', 'O', 'I-LOC'] -> [('PER', 0, 1), ('LOC', 3, 3)].
  """
  spans = []
  prev_tag, prev_type, begin = "O", "", 0
  for i, chunk in enumerate([*tags, "O"]):
    tag, type_ = _split(chunk) if chunk else ("O", "_")
    if _ends(prev_tag, tag, prev_type, type_):
      spans.append((prev_type, begin, i - 1))
    if _starts(prev_tag, tag, prev_type, type_):
      begin = i
    prev_tag, prev_type = tag, type_
  return spans


def check_tags(tags: Sequence[str], where: str = "tags") -> None:
  """Raises unless every tag is 'O' or 'B-TYPE' / 'I-TYPE' (the IOB1 and IOB2 alphabet)."""
  for i, tag in enumerate(tags):
    if tag == "O":
      continue
    if len(tag) < 3 or tag[0] not in ("B", "I") or tag[1] != "-":
      raise ValueError(
          f"{where}: token {i}: expected a tag 'O', 'B-TYPE' or 'I-TYPE'; found {tag!r}. "
          "Check the tag column (CoNLL-2003 NER is the last one).")


def first_iob2_violation(tags: Sequence[str]) -> int | None:
  """Index of the first 'I-X' not preceded by 'B-X' or 'I-X' (invalid in IOB2), else None."""
  prev = "O"
  for i, tag in enumerate(tags):
    if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
      return i
    prev = tag
  return None


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
  """Rewrites IOB1 tags as IOB2 (BIO): every entity starts with 'B-'.

  In IOB1 (the original CoNLL-2003 release) an entity starts with 'I-' unless it directly
  follows an entity of the same type, where 'B-' marks the boundary. Entities are unchanged:
  `entity_spans` gives the same spans before and after.
  Example: ['I-PER', 'I-PER', 'B-PER', 'O', 'I-LOC'] -> ['B-PER', 'I-PER', 'B-PER', 'O', 'B-LOC'].
  """
  check_tags(tags, "iob1_to_iob2")
  out, prev = [], "O"
  for tag in tags:
    if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
      tag = "B-" + tag[2:]
    out.append(tag)
    prev = tag
  return out


def _prf(tp: int, n_pred: int, n_true: int) -> dict[str, float]:
  # seqeval's zero_division default: an empty denominator scores 0.
  precision = tp / n_pred if n_pred else 0.0
  recall = tp / n_true if n_true else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
  return {"precision": precision, "recall": recall, "f1": f1}


def entity_f1(true_tags: Sequence[Sequence[str]],
              pred_tags: Sequence[Sequence[str]]) -> dict:
  """Micro-averaged entity precision, recall and F1 over sentences, plus per type.

  Args:
    true_tags, pred_tags: one tag list per sentence (IOB2, IOB1 or IOBES strings); the two
      lists of a sentence must have equal length.

  Returns:
    {'precision', 'recall', 'f1': floats on the 0–1 scale,
     'per_type': {type: {'precision', 'recall', 'f1', 'support'}}} where support counts the
    true entities of that type; types seen only in predictions appear with support 0.
  """
  if len(true_tags) != len(pred_tags):
    raise ValueError(
        f"entity_f1: expected as many predicted sentences as true ones; found "
        f"{len(pred_tags)} and {len(true_tags)}.")
  true_set, pred_set = set(), set()
  for s, (t_tags, p_tags) in enumerate(zip(true_tags, pred_tags)):
    if len(t_tags) != len(p_tags):
      raise ValueError(
          f"entity_f1: sentence {s}: expected {len(t_tags)} predicted tags, one per token; "
          f"found {len(p_tags)}. Map sub-token predictions back to words first "
          "(features.predictions_to_tags).")
    true_set.update((s, *span) for span in entity_spans(t_tags))
    pred_set.update((s, *span) for span in entity_spans(p_tags))

  result = _prf(len(true_set & pred_set), len(pred_set), len(true_set))
  per_type = {}
  for type_ in sorted({e[1] for e in true_set | pred_set}):
    t = {e for e in true_set if e[1] == type_}
    p = {e for e in pred_set if e[1] == type_}
    per_type[type_] = {**_prf(len(t & p), len(p), len(t)), "support": len(t)}
  result["per_type"] = per_type
  return result
