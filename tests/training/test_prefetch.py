"""The prefetching reader: same batches, state of the last batch taken, errors surface."""

import numpy as np
import pytest

from bertlab.data.pipeline import make_iterator
from bertlab.training.prefetch import Prefetcher


def _it(**kw):
  arrays = dict(input_ids=np.arange(400, dtype=np.int32).reshape(100, 4))
  return make_iterator(arrays, global_batch_size=8, seed=0, process_index=0, process_count=1,
                       **kw)


@pytest.mark.parametrize("size", [0, 1, 3])
def test_prefetched_batches_and_state_match_the_plain_iterator(size):
  plain = _it()
  pre = Prefetcher(_it(), place=lambda b: b, size=size)
  for _ in range(7):
    np.testing.assert_array_equal(next(pre)["input_ids"], next(plain)["input_ids"])
  # However far the thread read ahead, the state is the one after the 7th batch.
  assert pre.get_state() == plain.get_state()
  resumed = _it()
  resumed.set_state(pre.get_state())
  np.testing.assert_array_equal(next(resumed)["input_ids"], next(plain)["input_ids"])
  pre.close()


def test_errors_and_the_end_reach_the_loop():
  def broken():
    yield {"x": 1}
    raise ValueError("corrupt record")

  class It:
    def __init__(self, gen):
      self.gen, self.n = gen, 0

    def __next__(self):
      self.n += 1
      return next(self.gen)

    def get_state(self):
      return {"n": self.n}

  pre = Prefetcher(It(broken()), place=lambda b: b, size=2)
  assert next(pre) == {"x": 1}
  with pytest.raises(ValueError, match="corrupt record"):
    next(pre)
  done = Prefetcher(It(iter([{"x": 1}])), place=lambda b: b, size=2)
  assert next(done) == {"x": 1}
  with pytest.raises(StopIteration):
    next(done)
  with pytest.raises(ValueError, match=">= 0"):
    Prefetcher(It(iter([])), place=lambda b: b, size=-1)
