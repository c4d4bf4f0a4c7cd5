"""Packed rows give every family the loss of the same examples unpadded, one per row.

Packing only removes padding: attention stays within an example, positions restart, NSP/SOP
read each example's own [CLS]. So a batch of packed rows and a batch of the same examples one
per row must give the same losses and metrics (deterministic forward, float32).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bertlab.data import packing
from bertlab.encoder import EncoderConfig
from bertlab.objectives import pretraining as pt
from bertlab.objectives.electra import ElectraForPretraining

L, P = 24, 4
CFG = EncoderConfig(vocab_size=60, hidden_size=24, num_layers=2, num_heads=2,
                    intermediate_size=40, embedding_size=16, max_position_embeddings=32,
                    use_pooler=True)


def _examples(n=7, seed=0):
  """n masked examples of lengths 5..14 in [L]/[P] arrays, as the masking writes them."""
  rng = np.random.default_rng(seed)
  out = []
  for i in range(n):
    length = int(rng.integers(5, 15))
    ids = np.zeros(L, np.int32)
    ids[:length] = rng.integers(5, 60, length)
    ids[0], ids[length - 1] = 2, 3                      # [CLS] ... [SEP]
    types = np.zeros(L, np.int32)
    types[length // 2:length] = 1
    k = min(int(rng.integers(1, P + 1)), length - 4)
    pos = np.zeros(P, np.int32)
    pos[:k] = np.sort(rng.choice(np.arange(2, length - 2), k, replace=False))
    w = (np.arange(P) < k).astype(np.float32)
    out.append(dict(
        input_ids=ids, token_type_ids=types, attention_mask=(np.arange(L) < length).astype(
            np.int32),
        mlm_positions=pos, mlm_ids=(rng.integers(5, 60, P) * w).astype(np.int32), mlm_weights=w,
        nsp_label=np.int32(i % 2), sop_label=np.int32((i // 2) % 2),
        sbo_left=np.where(w > 0, pos - 1, 0).astype(np.int32),
        sbo_right=np.where(w > 0, pos + 1, 0).astype(np.int32),
        sbo_rel=np.where(w > 0, np.arange(P) % 3, 0).astype(np.int32),
        sbo_weights=w * (np.arange(P) != 1)))                # one slot without an SBO target
  return out


def _stack(rows):
  return {k: jnp.asarray(np.stack([r[k] for r in rows])) for k in rows[0]}


def _packed(examples):
  """Examples packed in order, first fit into the open row (the pipeline plans rows the same
  way per window; here the order is kept so every row is checked against its examples)."""
  spec = packing.PackingSpec(max_seq_len=L, max_predictions=2 * P, max_examples=4, bins=4)
  rows, row = [], []
  for part in (packing.trim(e) for e in examples):
    grown = row + [part]
    if row and (sum(len(x["input_ids"]) for x in grown) > L or len(grown) > 4
                or sum(len(x["mlm_positions"]) for x in grown) > 2 * P):
      rows.append(packing.pack_row(row, spec))
      grown = [part]
    row = grown
  rows.append(packing.pack_row(row, spec))
  assert len(rows) < len(examples)  # several examples share a row
  return _stack(rows)


@pytest.mark.parametrize("cls", [pt.BertForPretraining, pt.AlbertForPretraining,
                                 pt.SpanBertForPretraining])
def test_packed_rows_give_the_unpacked_losses(cls):
  examples = _examples()
  unpacked, packed = _stack(examples), _packed(examples)
  model = cls(CFG)
  v = model.init(jax.random.key(0), unpacked)
  loss_u, m_u = model.apply(v, unpacked)
  loss_p, m_p = model.apply(v, packed)
  np.testing.assert_allclose(loss_p, loss_u, rtol=2e-5)
  for k in m_u:
    np.testing.assert_allclose(m_p[k], m_u[k], rtol=2e-5, atol=1e-6, err_msg=k)


def test_packed_roberta_positions_start_at_the_offset():
  cfg = CFG.replace(position_offset=2, pad_token_id=1, max_position_embeddings=L + 2,
                    use_pooler=False)
  examples = _examples(seed=1)
  unpacked, packed = _stack(examples), _packed(examples)
  model = pt.RobertaForPretraining(cfg)
  v = model.init(jax.random.key(0), unpacked)
  np.testing.assert_allclose(model.apply(v, packed)[0], model.apply(v, unpacked)[0], rtol=2e-5)


def test_packed_electra_gives_the_unpacked_losses():
  """The generator's samples are fixed to the originals (no replacements) so that both layouts
  corrupt identically; RTD then averages over the same tokens."""
  examples = _examples(seed=2)
  unpacked, packed = _stack(examples), _packed(examples)
  model = ElectraForPretraining(CFG.replace(use_pooler=False),
                                CFG.replace(hidden_size=12, intermediate_size=20,
                                            use_pooler=False))
  v = model.init({"params": jax.random.key(0), "sampling": jax.random.key(1)}, unpacked)
  loss_u, m_u = model.apply(v, unpacked, sample_ids=unpacked["mlm_ids"])
  loss_p, m_p = model.apply(v, packed, sample_ids=packed["mlm_ids"])
  np.testing.assert_allclose(loss_p, loss_u, rtol=2e-5)
  np.testing.assert_allclose(m_p["rtd_loss"], m_u["rtd_loss"], rtol=2e-5)


def test_examples_in_one_row_do_not_see_each_other():
  """Changing one packed example's tokens leaves the other examples' hidden states as they were."""
  examples = _examples()
  packed = _packed(examples)
  model = pt.RobertaForPretraining(CFG.replace(use_pooler=False))
  v = model.init(jax.random.key(0), packed)
  inputs = lambda b: (b["input_ids"], b["attention_mask"], b["token_type_ids"], None, True,
                      pt.packed_inputs(b, CFG))
  hidden = model.apply(v, *inputs(packed), method=model.logits)["hidden"]
  row = int(np.argmax(np.asarray(packed["segment_ids"]).max(1)))  # a row with >= 2 examples
  seg = np.asarray(packed["segment_ids"][row])
  changed = dict(packed)
  changed["input_ids"] = packed["input_ids"].at[row].set(
      jnp.where(jnp.asarray(seg) == 1, 7, packed["input_ids"][row]))
  hidden2 = model.apply(v, *inputs(changed), method=model.logits)["hidden"]
  others = seg > 1
  assert others.any()
  np.testing.assert_allclose(hidden2[row][others], hidden[row][others], atol=1e-6)
  assert not np.allclose(hidden2[row][seg == 1], hidden[row][seg == 1])
