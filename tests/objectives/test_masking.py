"""Tests for bertlab.objectives.masking: exact rules, hand-checked cases, statistics.

Statistical checks compare a frequency k/n with its probability p and allow Z = 5 standard
errors, sqrt(p (1 - p) / n): a two-sided normal tail of 5.7e-7 per check, so a correct
implementation essentially never fails; the seeds are fixed anyway, so runs are reproducible.
"""

import functools

import numpy as np
import pytest

from bertlab.objectives import masking as M

Z = 5.0
V = 1000
PAD, CLS, SEP, MASK, UNK = 0, 1, 2, 3, 4
SPECIALS = np.array([PAD, CLS, SEP, MASK, UNK])
VOCAB = M.MaskingVocab(V, mask_id=MASK, pad_id=PAD, special_ids=(CLS, SEP, UNK))
N_REPLACEMENTS = V - SPECIALS.size  # a random replacement equals the original with 1/995
P = 20
STRATEGIES = M.STRATEGIES
KEYS = ("input_ids", "mlm_positions", "mlm_ids", "mlm_weights")
SPAN_KEYS = ("sbo_left", "sbo_right", "sbo_rel", "sbo_weights")


def make_pair(rs, L=128):
  """[CLS] A [SEP] B [SEP] pad..., real length in [L/2, L], ~1.4 sub-tokens per word."""
  n = int(rs.integers(L // 2, L + 1))
  a = int(rs.integers(1, n - 2))
  ids = np.full(L, PAD, np.int32)
  ids[:n] = rs.integers(10, V, n)
  ids[[0, a + 1, n - 1]] = [CLS, SEP, SEP]
  return ids, np.isin(ids, SPECIALS), rs.random(L) < 0.7


def budget(ids, max_predictions=P, prob=0.15):
  return min(max_predictions, max(1, int(round(np.count_nonzero(ids != PAD) * prob))))


@functools.cache
def draws(name, n=1500):
  """n (ids, special, word_starts, output) for one strategy, over random pair sequences."""
  rs = np.random.default_rng(0)
  out = []
  for i in range(n):
    ids, sp, ws = make_pair(rs)
    out.append((ids, sp, ws, STRATEGIES[name](ids, sp, ws, rng=M.example_rng(7, 0, i),
                                              vocab=VOCAB, max_predictions=P)))
  return out


def masked(out):
  """Real prediction positions and the corrupted ids there."""
  k = int(out["mlm_weights"].sum())
  pos = out["mlm_positions"][:k]
  return pos, out["input_ids"][pos]


def assert_rate(k, n, p, what):
  se = np.sqrt(p * (1 - p) / n)
  assert abs(k / n - p) <= Z * se, f"{what}: {k}/{n} = {k / n:.4f}, expected {p:.4f} ± {Z * se:.4f}"


def runs(pos):
  """Maximal runs of consecutive positions: [(start, end)] inclusive."""
  cuts = np.flatnonzero(np.diff(pos) != 1) + 1
  return [(int(r[0]), int(r[-1])) for r in np.split(pos, cuts) if r.size]


class ScriptedRng:
  """Stands in for np.random.Generator with scripted draws, for hand-checked cases."""

  def __init__(self, choice=(), integers=(), permutation=()):
    self.queues = {"choice": [np.asarray(choice)], "integers": [np.asarray(integers)],
                   "permutation": [np.asarray(permutation)]}

  def _next(self, name):
    assert self.queues[name], f"script has no more {name} draws"
    return self.queues[name].pop()

  def choice(self, a, size=None, p=None):
    return self._next("choice")

  def integers(self, low, high=None, size=None):
    return self._next("integers")

  def permutation(self, n):
    return self._next("permutation")


# --- exact rules --------------------------------------------------------------------------

@pytest.mark.parametrize("name", STRATEGIES)
def test_shapes_dtypes_and_stacking(name):
  outs = [o for *_, o in draws(name)[:8]]
  outs.append(STRATEGIES[name](*make_pair(np.random.default_rng(1), L=128), rng=M.example_rng(
      0, 0, 0), vocab=VOCAB, max_predictions=P))
  keys = KEYS + (SPAN_KEYS if name == "span" else ())
  for o in outs:
    assert set(o) == set(keys)
    assert o["input_ids"].shape == (128,) and o["input_ids"].dtype == np.int32
    for k in keys[1:]:
      assert o[k].shape == (P,), k
      assert o[k].dtype == (np.float32 if k.endswith("weights") else np.int32), k
  assert np.stack([o["mlm_ids"] for o in outs]).shape == (len(outs), P)


@pytest.mark.parametrize("name", STRATEGIES)
def test_specials_never_masked_and_slots_well_formed(name):
  for ids, sp, _, o in draws(name):
    pos, _ = masked(o)
    k = pos.size
    assert not sp[pos].any()
    np.testing.assert_array_equal(o["input_ids"][sp], ids[sp])
    changed = np.flatnonzero(o["input_ids"] != ids)
    assert np.isin(changed, pos).all(), "only predicted positions may change"
    assert k <= P and np.all(np.diff(pos) > 0), "sorted, distinct, at most P"
    np.testing.assert_array_equal(o["mlm_ids"][:k], ids[pos])
    np.testing.assert_array_equal(o["mlm_weights"], np.arange(P) < k)
    assert not o["mlm_positions"][k:].any() and not o["mlm_ids"][k:].any()


@pytest.mark.parametrize("name", ["token", "span", "electra"])
def test_count_is_the_bert_budget(name):
  # min(P, max(1, round(0.15 * non-pad length))), exactly, for every sequence.
  for ids, _, _, o in draws(name):
    assert o["mlm_weights"].sum() == budget(ids)
  n_masked = sum(o["mlm_weights"].sum() for *_, o in draws(name))
  n_real = sum(np.count_nonzero(ids != PAD) for ids, *_ in draws(name))
  assert abs(n_masked / n_real - 0.15) < 0.005  # rounding moves each sequence by <= 0.5 token


@pytest.mark.parametrize("name", ["whole_word", "ngram"])
def test_whole_word_strategies_never_split_words_nor_overshoot(name):
  total, target = 0, 0
  for ids, sp, ws, o in draws(name):
    starts, ends = M.word_bounds(sp, ws)
    is_masked = np.zeros(ids.size, bool)
    is_masked[masked(o)[0]] = True
    per_word = np.array([is_masked[s:e].sum() for s, e in zip(starts, ends)])
    assert np.all((per_word == 0) | (per_word == ends - starts)), "a word was split"
    n = o["mlm_weights"].sum()
    assert n <= budget(ids)
    if name == "whole_word" and np.count_nonzero(ends - starts == 1) >= budget(ids):
      # Proof of exactness: if it ended short, every word was visited with room for one
      # more token, so every one-token word was taken: at least budget of them.
      assert n == budget(ids)
    total, target = total + n, target + budget(ids)
  assert total >= 0.95 * target, f"{total} of {target}"  # sanity: skips cost little


def test_spans_split_at_most_one_word_and_sbo_boundaries_are_just_outside():
  for ids, sp, ws, o in draws("span"):
    pos, _ = masked(o)
    starts, ends = M.word_bounds(sp, ws)
    is_masked = np.zeros(ids.size, bool)
    is_masked[pos] = True
    partial = [s for s, e in zip(starts, ends) if 0 < is_masked[s:e].sum() < e - s]
    assert len(partial) <= 1, "only the span that meets the budget may stop mid-word"
    slot = 0
    for s, e in runs(pos):  # maximal runs are exactly the merged spans
      for p in range(s, e + 1):
        assert (o["sbo_left"][slot], o["sbo_right"][slot], o["sbo_rel"][slot]) == (s - 1, e + 1,
                                                                                    p - s)
        assert not is_masked[s - 1] and not is_masked[e + 1]
        real = not sp[s - 1] and not sp[e + 1]
        assert o["sbo_weights"][slot] == (real and p - s < 15)
        slot += 1
    assert not o["sbo_weights"][slot:].any() and not o["sbo_rel"][slot:].any()


@pytest.mark.parametrize("name", STRATEGIES)
def test_nothing_maskable_gives_no_predictions(name):
  ids = np.array([CLS, SEP, PAD, PAD], np.int32)
  o = STRATEGIES[name](ids, np.ones(4, bool), np.ones(4, bool), rng=np.random.default_rng(0),
                       vocab=VOCAB, max_predictions=3)
  np.testing.assert_array_equal(o["input_ids"], ids)
  assert not o["mlm_weights"].any()


def test_random_replacements_are_never_special():
  vocab = M.MaskingVocab(60, mask_id=3, pad_id=0, special_ids=range(50))
  seen = set()
  for name in ["token", "whole_word", "ngram", "span", "electra"]:
    for i, (ids, sp, ws, _) in enumerate(draws("token")[:100]):
      o = STRATEGIES[name](ids, sp, ws, rng=M.example_rng(1, 0, i), vocab=vocab, max_predictions=P,
                           mask_token_prob=0.0, random_token_prob=1.0)
      pos, new = masked(o)
      assert new.min() >= 50
      seen |= set(new.tolist())
  assert seen == set(range(50, 60))  # all 10 allowed ids show up among ~8,000 draws


@pytest.mark.parametrize("name", STRATEGIES)
def test_deterministic_given_rng(name):
  ids, sp, ws = make_pair(np.random.default_rng(3), L=512)
  run = lambda seed: STRATEGIES[name](ids, sp, ws, rng=M.example_rng(seed, 0, 0), vocab=VOCAB,
                                      max_predictions=80)
  a, b, c = run(0), run(0), run(1)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])
  assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_static_masks_equal_dynamic_epochs_and_carry_fields():
  rs = np.random.default_rng(4)
  examples = []
  for label in (0, 1, 1):
    ids, sp, ws = make_pair(rs, L=64)
    examples.append({"input_ids": ids, "special_mask": sp, "word_starts": ws, "label": label})
  fn = M.as_transform(M.mask_spans, vocab=VOCAB, max_predictions=10)
  out = M.static_masks(examples, fn, dupe_factor=2, seed=5)
  assert len(out) == 6 and [o["label"] for o in out] == [0, 1, 1] * 2
  for d in range(2):
    for i, ex in enumerate(examples):
      ref = M.mask_spans(ex["input_ids"], ex["special_mask"], ex["word_starts"],
                         rng=M.example_rng(5, d, i), vocab=VOCAB, max_predictions=10)
      for k in ref:
        np.testing.assert_array_equal(out[d * 3 + i][k], ref[k])
  assert not np.array_equal(out[0]["mlm_positions"], out[3]["mlm_positions"])
  np.testing.assert_array_equal(out[0]["word_starts"], examples[0]["word_starts"])

  # Columns in, columns out ([D * N, ...]), the same values as the list form.
  cols = {k: np.stack([ex[k] for ex in examples]) for k in examples[0]}
  out_cols = M.static_masks(cols, fn, dupe_factor=2, seed=5)
  assert out_cols["mlm_positions"].shape == (6, 10) and out_cols["input_ids"].shape == (6, 64)
  for k in out[0]:
    np.testing.assert_array_equal(out_cols[k], np.stack([o[k] for o in out]))


def test_num_to_predict_rules():
  ids = np.full(40, 10, np.int32)
  ids[30:] = PAD
  sp = ids == PAD
  ids[0] = CLS
  sp[0] = True
  # n_real = 30: 30 * 0.15 = 4.5 rounds half to even, as Python 3's round in the reference.
  assert M.num_to_predict(ids, sp, VOCAB, 0.15, 20, "bert") == 4
  assert M.num_to_predict(ids, sp, VOCAB, 0.15, 3, "bert") == 3
  assert M.num_to_predict(ids, sp, VOCAB, 0.15, 20, "spanbert") == 5  # ceil(29 * 0.15)
  rng = np.random.default_rng(0)
  counts = [M.num_to_predict(ids[:10], sp[:10], VOCAB, 0.15, 20, "fairseq", rng)
            for _ in range(4000)]
  assert set(counts) == {1, 2}  # int(1.5 + u)
  assert_rate(counts.count(2), 4000, 0.5, "fairseq rounds up half the time")


def test_clear_errors():
  ids, sp, ws = make_pair(np.random.default_rng(0), L=32)
  with pytest.raises(ValueError, match="word_starts"):
    M.mask_spans(ids, sp, rng=np.random.default_rng(0), vocab=VOCAB, max_predictions=5)
  with pytest.raises(ValueError, match="one sequence"):
    M.mask_tokens(ids[None], sp[None], rng=np.random.default_rng(0), vocab=VOCAB,
                  max_predictions=5)
  with pytest.raises(ValueError, match="outside"):
    M.MaskingVocab(10, mask_id=10, pad_id=0)
  with pytest.raises(ValueError, match="sum to"):
    M.mask_tokens(ids, sp, rng=np.random.default_rng(0), vocab=VOCAB, max_predictions=5,
                  mask_token_prob=0.9, random_token_prob=0.2)


# --- statistics ---------------------------------------------------------------------------

def action_counts(name):
  """(#[MASK], #random, #kept) over all predicted tokens of a strategy's draws."""
  n_mask = n_rand = n_keep = 0
  for ids, _, _, o in draws(name):
    pos, new = masked(o)
    n_mask += np.count_nonzero(new == MASK)
    n_keep += np.count_nonzero(new == ids[pos])
    n_rand += np.count_nonzero((new != MASK) & (new != ids[pos]))
  return n_mask, n_rand, n_keep


@pytest.mark.parametrize("name", ["token", "whole_word", "ngram"])
def test_80_10_10_per_token(name):
  n_mask, n_rand, n_keep = action_counts(name)
  n = n_mask + n_rand + n_keep  # ~ 21,600 tokens: 5 s.e. = 0.014 on 80 %, 0.010 on 10 %
  assert_rate(n_mask, n, 0.8, "[MASK]")
  # A random draw hits the original id with probability 1 / 995 and then reads as "kept".
  assert_rate(n_rand, n, 0.1 * (1 - 1 / N_REPLACEMENTS), "random")
  assert_rate(n_keep, n, 0.1 * (1 + 1 / N_REPLACEMENTS), "kept")


def test_electra_85_15_0():
  n_mask, n_rand, n_keep = action_counts("electra")
  assert n_rand == 0
  assert_rate(n_mask, n_mask + n_keep, 0.85, "[MASK]")


def test_spans_80_10_10_per_span():
  counts = {"mask": 0, "random": 0, "keep": 0}
  for ids, _, _, o in draws("span"):
    for s, e in runs(masked(o)[0]):
      new, old = o["input_ids"][s:e + 1], ids[s:e + 1]
      if (new == MASK).all():
        counts["mask"] += 1
      elif (new == old).all():  # a random span equal to its original: p <= 1e-4, ignored
        counts["keep"] += 1
      else:
        assert not (new == MASK).any(), "one decision per span"
        counts["random"] += 1
  n = sum(counts.values())  # ~ 4,700 spans: 5 s.e. = 0.029 on 80 %
  assert_rate(counts["mask"], n, 0.8, "[MASK] spans")
  assert_rate(counts["random"], n, 0.1, "random spans")
  assert_rate(counts["keep"], n, 0.1, "kept spans")


def test_span_lengths_follow_truncated_geometric():
  p, q = 0.2, 0.8
  pmf = np.array([p * q ** (k - 1) for k in range(1, 11)]) / (1 - q ** 10)
  exact_mean = (1 - 11 * q ** 10 + 10 * q ** 11) / p / (1 - q ** 10)  # sum k p q^(k-1), renormed
  assert abs(exact_mean - 3.8) < 0.05, exact_mean  # the paper's "mean 3.8"
  np.testing.assert_allclose(M.span_length_probs(0.2, 1, 10), pmf)
  assert np.isclose(pmf @ np.arange(1, 11), exact_mean)

  lengths, extents_ok = [], 0
  rs = np.random.default_rng(5)
  for i in range(1500):
    ids, sp, ws = make_pair(rs)
    _, spans = M.select_spans(sp, ws, budget(ids), M.example_rng(9, 0, i))
    lengths += [n for *_, n in spans]
    starts, ends = M.word_bounds(sp, ws)
    for s, e, n in spans[:-1]:  # the last one may be cut by the budget
      w0, w1 = np.searchsorted(starts, [s, e], side="right") - 1
      to_special = np.flatnonzero(sp[s:])[0] + s
      last_word = np.searchsorted(starts, to_special, side="right") - 1
      assert e == ends[w1] - 1 and w1 - w0 + 1 == min(n, last_word - w0 + 1)
      extents_ok += 1
  lengths = np.array(lengths)  # ~ 5,000 spans
  sd = np.sqrt(pmf @ (np.arange(1, 11) - exact_mean) ** 2)
  assert abs(lengths.mean() - exact_mean) <= Z * sd / np.sqrt(lengths.size)
  for k in range(1, 11):
    assert_rate(np.count_nonzero(lengths == k), lengths.size, pmf[k - 1], f"length {k}")
  assert extents_ok > 3000  # ~ 3,500 spans checked


def test_ngram_lengths_are_6_3_2_over_11():
  # The first n-gram of each draw: nothing is covered yet and the budget (3) fits any n, so
  # only the cut at the last word changes n; starts within 2 words of the end are left out.
  n_words, ns = 60, []
  for i in range(6000):
    (first, n), *_ = M.select_ngrams(np.ones(n_words, int), 3, M.example_rng(2, 0, i))
    if first < n_words - 2:
      ns.append(n)
  ns = np.array(ns)  # 5 s.e. on 6/11 with ~5,800 draws = 0.033
  for n, p in zip((1, 2, 3), (6 / 11, 3 / 11, 2 / 11)):
    assert_rate(np.count_nonzero(ns == n), ns.size, p, f"{n}-grams")
  np.testing.assert_allclose(M.ngram_probs(3), [6 / 11, 3 / 11, 2 / 11])


# --- hand-checked cases -------------------------------------------------------------------

def test_tokens_by_hand():
  ids = np.array([CLS, 10, 11, SEP, PAD, PAD], np.int32)
  o = M.mask_tokens(ids, np.isin(ids, SPECIALS), rng=np.random.default_rng(0), vocab=VOCAB,
                    max_predictions=3, mask_prob=0.5, mask_token_prob=1.0, random_token_prob=0.0)
  # n_real = 4, round(4 * 0.5) = 2 = both maskable tokens.
  np.testing.assert_array_equal(o["input_ids"], [CLS, MASK, MASK, SEP, PAD, PAD])
  np.testing.assert_array_equal(o["mlm_positions"], [1, 2, 0])
  np.testing.assert_array_equal(o["mlm_ids"], [10, 11, 0])
  np.testing.assert_array_equal(o["mlm_weights"], [1, 1, 0])


def test_whole_words_by_hand():
  ids = np.array([CLS, 10, 11, 12, SEP], np.int32)  # words: [10 ##11] [12]; budget 5*0.4 = 2
  ws = np.array([0, 1, 0, 1, 0], bool)
  seen = set()
  for seed in range(40):
    o = M.mask_whole_words(ids, np.isin(ids, SPECIALS), ws, rng=np.random.default_rng(seed),
                           vocab=VOCAB, max_predictions=3, mask_prob=0.4)
    seen.add(tuple(masked(o)[0]))
  # [10 ##11] first fills the budget; [12] first leaves 1, and the 2-token word is skipped.
  assert seen == {(1, 2), (3,)}


def test_electra_by_hand():
  ids = np.array([CLS, 10, MASK, 11, SEP], np.int32)  # an existing [MASK] is no candidate
  sp = np.isin(ids, [CLS, SEP])
  for seed in range(20):
    o = M.mask_electra(ids, sp, rng=np.random.default_rng(seed), vocab=VOCAB, max_predictions=3,
                       mask_prob=0.4)
    np.testing.assert_array_equal(o["mlm_positions"], [1, 3, 0])
    np.testing.assert_array_equal(o["mlm_ids"], [10, 11, 0])
    assert set(o["input_ids"][[1, 3]]) <= {MASK, 10, 11}
  o = M.mask_electra(np.arange(10, 30, dtype=np.int32), np.zeros(20, bool),
                     rng=np.random.default_rng(0), vocab=VOCAB, max_predictions=20, mask_prob=1.0,
                     sample_with_replacement=True)
  assert np.unique(o["mlm_positions"]).size < 20  # 20 draws of 20 with replacement


def test_select_ngrams_by_hand():
  lengths = np.array([1, 2, 1, 1, 3])
  # Visits start 1 with n=3 (words 1-3, 4 tokens), then start 0 with n=3: 4 and 3 tokens
  # overshoot, so it falls back to the unigram [0]; budget 5 is met.
  rng = ScriptedRng(choice=[2, 2, 0, 1, 2], permutation=[1, 0, 3, 4, 2])
  assert M.select_ngrams(lengths, 5, rng) == [(1, 3), (0, 1)]
  # Budget 6: start 3 is covered (skipped, not shortened); start 4's n-gram is cut to one
  # 3-token word, which overshoots (skipped); start 2 falls back to a covered unigram.
  rng = ScriptedRng(choice=[2, 2, 0, 1, 2], permutation=[1, 0, 3, 4, 2])
  assert M.select_ngrams(lengths, 6, rng) == [(1, 3), (0, 1)]


def test_select_and_merge_spans_by_hand():
  #          0    1  2  3(##)  4  5  6  7    8
  sp = np.array([1, 0, 0, 0, 0, 0, 0, 1, 1], bool)
  ws = np.array([0, 1, 1, 0, 1, 1, 1, 0, 0], bool)
  # Anchors are indices into the maskable positions 1..6. (2 words at ##b) -> words [2,3] [4];
  # (1 word at 1); (3 words at ##b: already masked, redrawn); (3 words at 5): the budget of 5
  # is met after one token.
  rng = ScriptedRng(choice=[2, 1, 3, 3], integers=[2, 0, 2, 4])
  is_masked, spans = M.select_spans(sp, ws, 5, rng)
  assert spans == [(2, 4, 2), (1, 1, 1), (5, 5, 3)]
  np.testing.assert_array_equal(np.flatnonzero(is_masked), [1, 2, 3, 4, 5])
  np.testing.assert_array_equal(M.merge_spans(spans), [[1, 5]])  # adjacent spans join
  # Budget 2 stops inside the word [2 ##3]; a 10-word span at 6 stops at [SEP].
  assert M.select_spans(sp, ws, 2, ScriptedRng(choice=[3], integers=[0]))[1] == [(1, 2, 3)]
  assert M.select_spans(sp, ws, 1, ScriptedRng(choice=[10], integers=[5]))[1] == [(6, 6, 10)]
  merged = M.merge_spans([(5, 7), (1, 2), (3, 3), (6, 9), (12, 12)])
  np.testing.assert_array_equal(merged, [[1, 3], [5, 9], [12, 12]])


def test_sbo_fields_by_hand():
  ids = np.array([CLS, 10, 11, 12, 13, 14, 15, 16, SEP], np.int32)
  sp = np.isin(ids, SPECIALS)
  ws = ~sp
  for seed in range(30):
    o = M.mask_spans(ids, sp, ws, rng=np.random.default_rng(seed), vocab=VOCAB,
                     max_predictions=4, mask_prob=3 / 9 + 0.01, max_pair_targets=2)
    (s, e), *rest = runs(masked(o)[0])
    if rest or (s, e) != (3, 5):
      continue
    np.testing.assert_array_equal(o["sbo_left"], [2, 2, 2, 0])
    np.testing.assert_array_equal(o["sbo_right"], [6, 6, 6, 0])
    np.testing.assert_array_equal(o["sbo_rel"], [0, 1, 2, 0])
    np.testing.assert_array_equal(o["sbo_weights"], [1, 1, 0, 0])  # max_pair_targets = 2
    return
  pytest.fail("no seed in 0..29 drew the single span 3..5")
