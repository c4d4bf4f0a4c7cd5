import numpy as np
import pytest

from bertlab.tasks.squad import Answer, SquadExample
from bertlab.tasks.squad_eval import squad_v1
from bertlab.tasks.squad_features import (CLS_INDEX, postprocess_squad, squad_features,
                                          window_starts)

# Every word is one token, so token t of the context is word t.
FILLER = ["the", "game", "was", "very", "good", "and", "it", "is", "not", "bad"]
WORDS = FILLER * 2 + ["Santa", "Clara"] + FILLER[:8]  # 30 tokens; answer = tokens 20, 21
LONG = " ".join(WORDS)
LONG_EXAMPLE = SquadExample("long", "t", "Where was the game?", LONG,
                            (Answer("Santa Clara", LONG.index("Santa")),))
SHORT_CONTEXT = "The game was played at Levi's Stadium, in Santa Clara."
SHORT_EXAMPLE = SquadExample("short", "t", "Where was it?", SHORT_CONTEXT,
                             (Answer("Levi's Stadium", SHORT_CONTEXT.index("Levi")),))
# max_seq_len 24 − 5 question tokens − 3 specials = 16 context tokens per window.
ARGS = dict(max_seq_len=24, doc_stride=6, max_query_len=8)


def test_window_starts_follow_run_squad():
  assert window_starts(30, 16, 6) == [(0, 16), (6, 16), (12, 16), (18, 12)]
  assert window_starts(10, 16, 6) == [(0, 10)]
  assert window_starts(0, 16, 6) == [(0, 0)]
  assert window_starts(20, 8, 50) == [(0, 8), (8, 8), (16, 4)]  # stride > window: no gaps


def test_long_context_windows_and_answer_positions(tokenizer):
  f = squad_features([LONG_EXAMPLE], tokenizer, **ARGS)
  assert len(f) == 4 and f.example_index.tolist() == [0, 0, 0, 0]
  # Context starts after [CLS] + 5 question tokens + [SEP] = position 7; window w starts at
  # context token 6·w, so token 20 sits at 7 + 20 − 6·w. Window 0 (tokens 0..15) misses it.
  assert f.start_positions.tolist() == [CLS_INDEX, 21, 15, 9]
  assert f.end_positions.tolist() == [CLS_INDEX, 22, 16, 10]
  assert f.input_ids.shape == (4, 24) and f.attention_mask[3].sum() == 7 + 12 + 1
  np.testing.assert_array_equal(f.token_type_ids[1], [0] * 7 + [1] * 17)
  s, e = f.offsets[2, 15, 0], f.offsets[2, 16, 1]
  assert LONG[s:e] == "Santa Clara"
  assert (f.offsets[:, :7] == -1).all()  # question and specials map to no context text
  # Token 20 is most central in window 2 (min(8, 7) + 0.16 beats 1.16 and 2.12).
  assert f.token_is_max_context[:, [21, 15, 9]][[1, 2, 3], [0, 1, 2]].tolist() == [
      False, True, False]


def peaked_logits(features, spans, value=10.0):
  """Zero logits with start/end peaks at (window, start, end) triples."""
  start = np.zeros(features.input_ids.shape)
  end = np.zeros(features.input_ids.shape)
  for w, s, e in spans:
    start[w, s] += value
    end[w, e] += value
  return start, end


def test_postprocess_returns_exact_gold_text(tokenizer):
  examples = [LONG_EXAMPLE, SHORT_EXAMPLE]
  f = squad_features(examples, tokenizer, **ARGS)
  # A model that found the answer peaks on it in every window that holds it.
  spans = [(w, s, e) for w, (s, e) in enumerate(zip(f.start_positions, f.end_positions))
           if s != CLS_INDEX]
  answers = postprocess_squad(f, *peaked_logits(f, spans), n_best=5, max_answer_len=10)
  # Casing and punctuation come from the original context, not the lowercased tokens.
  assert answers == {"long": "Santa Clara", "short": "Levi's Stadium"}
  assert squad_v1(answers, {"long": ["Santa Clara"], "short": ["Levi's Stadium"]})[
      "exact_match"] == 100.0


def test_postprocess_uses_only_max_context_starts(tokenizer):
  f = squad_features([LONG_EXAMPLE], tokenizer, **ARGS)
  # Window 1 peaks hardest on the answer, but it is not the tokens' max-context window;
  # window 2's weaker peak on "not bad" (tokens 18, 19, most central there) is the valid best.
  start, end = peaked_logits(f, [(1, 21, 22)], value=20.0)
  start[2, 7 + 18 - 12] = end[2, 7 + 19 - 12] = 5.0
  assert f.token_is_max_context[2, 7 + 18 - 12] and not f.token_is_max_context[1, 21]
  assert postprocess_squad(f, start, end, n_best=5, max_answer_len=10) == {"long": "not bad"}


def position(features, window, context, text):
  """Feature position of the context token that starts at the first `text` in `context`."""
  return int(np.flatnonzero(features.offsets[window, :, 0] == context.index(text))[0])


def test_postprocess_respects_max_answer_len(tokenizer):
  f = squad_features([SHORT_EXAMPLE], tokenizer, **ARGS)
  levi = position(f, 0, SHORT_CONTEXT, "Levi")
  # levi ' s stadium , in santa clara: 8 tokens; "Levi's" is 3.
  start, end = peaked_logits(f, [(0, levi, levi + 7)])
  end[0, levi + 2] = 5.0
  long_answer = {"short": "Levi's Stadium, in Santa Clara"}
  assert postprocess_squad(f, start, end, max_answer_len=8) == long_answer
  assert postprocess_squad(f, start, end, max_answer_len=7) == {"short": "Levi's"}


def test_unanswerable_and_null_threshold(tokenizer):
  impossible = SquadExample("none", "t", "Who won?", SHORT_CONTEXT, (), is_impossible=True)
  f = squad_features([impossible], tokenizer, **ARGS)
  assert f.start_positions.tolist() == f.end_positions.tolist() == [CLS_INDEX]
  levi = position(f, 0, SHORT_CONTEXT, "Levi")
  start, end = peaked_logits(f, [(0, CLS_INDEX, CLS_INDEX), (0, levi, levi)])
  start[0, CLS_INDEX] += 1.0  # null score 21 vs best span 20
  assert postprocess_squad(f, start, end, version_2=True) == {"none": ""}
  assert postprocess_squad(f, start, end, version_2=True, null_threshold=1.5) == {"none": "Levi"}
  assert postprocess_squad(f, start, end) == {"none": "Levi"}  # v1.1 always answers


def test_question_truncation_and_caller_tokenizer_untouched(tokenizer):
  import copy
  truncating = copy.deepcopy(tokenizer)
  truncating.enable_truncation(8)
  f = squad_features([SHORT_EXAMPLE], truncating, max_seq_len=24, doc_stride=6, max_query_len=2)
  g = squad_features([SHORT_EXAMPLE], tokenizer, max_seq_len=24, doc_stride=6, max_query_len=2)
  assert truncating.truncation is not None
  np.testing.assert_array_equal(f.input_ids, g.input_ids)
  assert tokenizer.id_to_token(int(f.input_ids[0, 3])) == "[SEP]"  # [CLS] where was [SEP]


def test_errors(tokenizer):
  f = squad_features([SHORT_EXAMPLE], tokenizer, **ARGS)
  with pytest.raises(ValueError, match=r"expected start and end logits shaped \[F, L\]"):
    postprocess_squad(f, np.zeros((1, 5)), np.zeros((1, 5)))
  with pytest.raises(ValueError, match="Lower max_query_len or raise max_seq_len"):
    squad_features([SHORT_EXAMPLE], tokenizer, max_seq_len=10, max_query_len=8)
