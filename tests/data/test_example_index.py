"""The compact example index rebuilds exactly the dense rows of the builders, in < 2 B/token."""

import numpy as np
import pytest
from datahelpers import make_cache, random_docs

from bertlab.data import example_index, instances


@pytest.mark.parametrize("family,packing", [("bert", "full"), ("albert", "full"),
                                            ("electra", "full"), ("roberta", "full"),
                                            ("roberta", "doc"), ("spanbert", "full")])
def test_index_rows_equal_dense_rows(tmp_path, family, packing):
  cache = make_cache(random_docs(1, 40, length=(1, 40)), seed=2)
  args = dict(max_seq_len=64, pad_id=0, cls_id=2, sep_id=3, short_seq_prob=0.2,
              dupe_factor=2, roberta_packing=packing)
  dense = instances.build_instances(cache, family, seed=5, **args)
  w = example_index.IndexWriter(cache, 64, 0, instances.LABEL_KEYS.get(family), cls_id=2,
                                sep_id=3)
  instances.write_examples(cache, family, w, np.random.default_rng(5), cls_id=2, sep_id=3,
                           short_seq_prob=0.2, dupe_factor=2, roberta_packing=packing)
  w.save(str(tmp_path))
  index = example_index.ExampleIndex(str(tmp_path), cache)
  n = len(dense["input_ids"])
  assert len(index) == n > 20
  # Packing plans rows from these lengths before reading any example.
  np.testing.assert_array_equal(index.lengths(), dense["attention_mask"].sum(axis=1))
  for i in range(n):
    row = index[i]
    assert sorted(row) == sorted(dense)
    for k, v in dense.items():
      assert row[k].dtype == v.dtype, k
      np.testing.assert_array_equal(row[k], v[i], err_msg=f"{k} of example {i}")
  per_token = index.nbytes / (cache.num_tokens * 2)  # two passes (dupe_factor) over the corpus
  dense_bytes = sum(v.nbytes for v in dense.values()) / (cache.num_tokens * 2)
  assert per_token < 2.0 < dense_bytes, (per_token, dense_bytes)


def test_concat_and_slice_address_examples_in_order(tmp_path):
  cache = make_cache(random_docs(3, 10), seed=0)
  w = example_index.IndexWriter(cache, 32, 0, None, cls_id=2, sep_id=3)
  instances.write_examples(cache, "spanbert", w, np.random.default_rng(0), cls_id=2, sep_id=3)
  w.save(str(tmp_path))
  index = example_index.ExampleIndex(str(tmp_path), cache)
  n = len(index)
  both = example_index.Concat([example_index.Slice(index, 0, 3), example_index.Slice(index, 3, n)])
  assert len(both) == n
  for i in (0, 2, 3, n - 1):
    np.testing.assert_array_equal(both[i]["input_ids"], index[i]["input_ids"])
  with pytest.raises(IndexError):
    both[n]
  np.testing.assert_array_equal(both.lengths(), index.lengths())
