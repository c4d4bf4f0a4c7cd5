"""The global example stream: the same global batches for any host count, an elastic position,
and the packing plan's capacities."""

import json

import numpy as np
import pytest

from bertlab.data import packing, stream
from bertlab.data.pipeline import EXAMPLE_KEY, make_iterator

L = 32


def _instances(n=90, seed=0):
  """Examples of 4..30 real tokens; token j of example i is 1000 * (i + 1) + j."""
  rng = np.random.default_rng(seed)
  ids = np.zeros((n, L), np.int32)
  mask = np.zeros((n, L), np.int32)
  for i in range(n):
    k = int(rng.integers(4, 31))
    ids[i, :k] = 1000 * (i + 1) + np.arange(k)
    mask[i, :k] = 1
  return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids),
          "special_mask": mask == 0}


def _mask(example, rng):
  """A stand-in for masking: up to 2 random real positions predicted (fixed shapes [4])."""
  ex = dict(example)
  n = int(example["attention_mask"].sum())
  k = min(2, n)
  pos = np.sort(rng.choice(n, k, replace=False))
  ex["mlm_positions"] = np.zeros(4, np.int32)
  ex["mlm_positions"][:k] = pos
  ex["mlm_ids"] = np.zeros(4, np.int32)
  ex["mlm_ids"][:k] = example["input_ids"][pos]
  ex["mlm_weights"] = np.zeros(4, np.float32)
  ex["mlm_weights"][:k] = 1
  ex["input_ids"] = example["input_ids"].copy()
  ex["input_ids"][pos] = 7
  return ex


SPEC = packing.PackingSpec(max_seq_len=L, max_predictions=6, max_examples=4, bins=4)


def _iters(count, batch, spec, seed=3):
  return [make_iterator(_instances(), global_batch_size=batch, seed=seed, process_index=i,
                        process_count=count, map_fn=_mask, packing=spec, debug_ids=True,
                        predictions=lambda t: np.minimum(2, t))
          for i in range(count)]


def _global_batches(iters, n):
  """n global batches: the hosts' rows side by side."""
  return [{k: np.concatenate([b[k] for b in parts]) for k in parts[0]}
          for parts in ([next(it) for it in iters] for _ in range(n))]


@pytest.mark.parametrize("spec", [None, SPEC], ids=["unpacked", "packed"])
def test_global_batches_do_not_depend_on_the_host_count(spec):
  one = _global_batches(_iters(1, 8, spec), 14)  # > 1 epoch unpacked (90 examples)
  for count in (2, 4):
    many = _global_batches(_iters(count, 8, spec), 14)
    for a, b in zip(one, many, strict=True):
      assert a.keys() == b.keys()
      for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("spec", [None, SPEC], ids=["unpacked", "packed"])
@pytest.mark.parametrize("count,batch", [(1, 8), (4, 8), (2, 16)])
def test_resume_on_another_host_count_or_batch_sees_the_same_examples(spec, count, batch):
  """Saved by 2 hosts after 5 batches of 8; resumed on `count` hosts with batches of `batch`:
  the rows that follow are exactly the uninterrupted run's, so the multiset of examples seen
  (and their masks) equals it."""
  ref = _global_batches(_iters(1, 8, spec), 13)
  two = _iters(2, 8, spec)
  before = _global_batches(two, 5)
  states = [json.loads(json.dumps(it.get_state())) for it in two]
  assert states[0] == states[1]  # one global position
  resumed = _iters(count, batch, spec)
  for it in resumed:
    it.set_state(states[0])
  after = _global_batches(resumed, 64 // batch)
  got = {k: np.concatenate([b[k] for b in before + after]) for k in ref[0]}
  want = {k: np.concatenate([b[k] for b in ref]) for k in ref[0]}
  for k in want:
    np.testing.assert_array_equal(got[k], want[k])
  ids = want[EXAMPLE_KEY]
  seen = ids[ids >= 0]
  assert len(seen) == len(set(seen.tolist()))  # every stream position once
  if spec is None:
    assert sorted(seen.tolist()) == list(range(104))
  else:
    assert len(seen) > 1.5 * 104  # several examples per row
    done = seen.max() // SPEC.window * SPEC.window  # every window before the last one: whole
    assert set(range(done)) <= set(seen.tolist())


@pytest.mark.parametrize("static", [True, False])
def test_static_masks_are_keyed_by_example_index_only(static):
  it = make_iterator(_instances(20), global_batch_size=10, seed=1, process_index=0,
                     process_count=1, map_fn=_mask, debug_ids=True, static_masks=static)
  batches = [next(it) for _ in range(6)]  # three epochs, each in its own order
  g = np.concatenate([b[EXAMPLE_KEY] for b in batches])
  inputs = np.concatenate([b["input_ids"] for b in batches])
  epochs, index = stream.GlobalOrder(20, 1)(g)
  assert (epochs == np.repeat([0, 1, 2], 20)).all()
  first = {int(i): x for i, x, e in zip(index, inputs, epochs, strict=True) if e == 0}
  same = [(inputs[k] == first[int(index[k])]).all() for k in range(20, 60)]
  assert all(same) if static else not all(same)


def test_plan_respects_every_capacity_and_places_each_example_once():
  rng = np.random.default_rng(0)
  tokens = rng.integers(1, 33, 200)
  preds = np.minimum(6, rng.integers(0, 5, 200))
  rows = stream.plan_window(tokens, preds, 32, 6, 4)
  assert sorted(np.concatenate(rows).tolist()) == list(range(200))
  for r in rows:
    assert tokens[r].sum() <= 32 and preds[r].sum() <= 6 and len(r) <= 4
  assert tokens.sum() / (32 * len(rows)) > 0.8  # best-fit decreasing fills rows
  with pytest.raises(ValueError, match="cannot fit a packed row"):
    stream.plan_window(np.array([40]), np.array([1]), 32, 6, 4)


def test_stream_of_another_length_is_refused_by_set_state():
  it = make_iterator(_instances(), global_batch_size=8, seed=0, process_index=0,
                     process_count=1)
  next(it)
  other = make_iterator({k: v[:, :16] for k, v in _instances().items()}, global_batch_size=8,
                        seed=0, process_index=0, process_count=1)
  with pytest.raises(ValueError, match="another stream"):
    other.set_state(it.get_state())


@pytest.mark.parametrize("spec", [None, SPEC], ids=["unpacked", "packed"])
def test_worker_processes_give_the_same_batches_and_states(spec):
  kw = dict(global_batch_size=8, seed=2, process_index=0, process_count=1, map_fn=_mask,
            packing=spec, predictions=lambda t: np.minimum(2, t))
  plain = make_iterator(_instances(), **kw)
  pooled = make_iterator(_instances(), num_workers=2, **kw)
  try:
    for _ in range(5):
      a, b = next(plain), next(pooled)
      for k in a:
        np.testing.assert_array_equal(a[k], b[k])
      assert plain.get_state() == pooled.get_state()  # the batch taken, not the ones ahead
    pooled.set_state(plain.get_state())
    a, b = next(plain), next(pooled)
    for k in a:
      np.testing.assert_array_equal(a[k], b[k])
  finally:
    pooled.close()
