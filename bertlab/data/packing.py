"""Sequence packing: several masked examples per row, so a step computes (almost) no padding.

Pretraining instances are often much shorter than max_seq_len (the last segment of a
document, BERT's short_seq_prob, corpora of short documents): measured on the Gutenberg +
WikiText-2 text in ../shared/data, 58 % of BERT's 128-token rows and 88 % of its 512-token
rows are padding. Packing puts whole examples side by side in one row (no example is split),
and the encoder keeps them apart: attention only within an example (`segment_ids`),
positions restart at each example (`positions`), and NSP/SOP read each example's own [CLS]
(`cls_positions`). So every loss equals the loss of the same examples unpacked; a packed
batch just holds more examples (Krell et al. 2021, "Efficient sequence packing without
cross-contamination").

  masked example (fixed [L] / [P] arrays) --trim--> variable-length parts
    --rows planned per window of the global stream (data/stream.py: best-fit decreasing,
      tokens <= L, predictions <= P', examples <= S)--> --pack_row--> a row with offsets:
      input_ids, token_type_ids, attention_mask, segment_ids (1..S, 0 = pad), positions  [L]
      mlm_positions (row positions), mlm_ids, mlm_weights, sbo_*                        [P']
      cls_positions, sentence_weights, nsp_label / sop_label                            [S]

Masking happens per example before packing, with the same RNG as unpacked, so packed and
unpacked runs see identical masks. The rows depend only on the global stream, never on the
number of hosts, and the stream's position restores exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np

TOKEN_KEYS = ("input_ids", "token_type_ids")
PREDICTION_KEYS = ("mlm_positions", "mlm_ids", "mlm_weights", "sbo_left", "sbo_right", "sbo_rel",
                   "sbo_weights")
ROW_POSITION_KEYS = ("mlm_positions", "sbo_left", "sbo_right")  # indices into the row
SENTENCE_KEYS = ("nsp_label", "sop_label")


@dataclasses.dataclass(frozen=True)
class PackingSpec:
  """Row capacity: L tokens, P' prediction slots, S examples; `bins` rows filled at once."""

  max_seq_len: int
  max_predictions: int      # per row (P'); an example's own cap stays the masking's
  max_examples: int         # per row (S): the size of the [CLS] / sentence-label arrays
  bins: int = 64            # a packing window holds 4 x bins examples (more: fuller rows)

  def __post_init__(self):
    for f in dataclasses.fields(self):
      if getattr(self, f.name) < 1:
        raise ValueError(f"packing {f.name}: must be >= 1, got {getattr(self, f.name)}")

  @property
  def window(self) -> int:
    """Examples packed together (data/stream.py): the last row of a window may be short."""
    return 4 * self.bins

  @classmethod
  def default(cls, max_seq_len: int, max_predictions: int, **kw) -> PackingSpec:
    """S = L / 16 examples per row; P' = P + 2 prediction slots. Each example's mask count is
    rounded (and at least 1), so a row of short examples can need a slot or two more than P;
    measured on Gutenberg + WikiText-2 (BERT, L 128, P 19): rows are 96.4 % real tokens with
    P' = P, 96.7 % with P + 2, and no fuller with more slots (L 512: 99.2 %, 99.3 %)."""
    return cls(max_seq_len, max_predictions + 2, max(2, max_seq_len // 16), **kw)


def trim(example: dict) -> dict:
  """A masked fixed-shape example -> its variable-length parts (pads and empty slots cut)."""
  n = int(np.asarray(example["attention_mask"]).sum())
  if n == 0:
    raise ValueError("packing met an example without tokens (attention_mask all 0)")
  out = {k: np.asarray(example[k])[:n] for k in TOKEN_KEYS if k in example}
  real = np.asarray(example["mlm_weights"]) > 0
  out.update({k: np.asarray(example[k])[real] for k in PREDICTION_KEYS if k in example})
  labels = [k for k in SENTENCE_KEYS if k in example]
  if labels:
    out["cls_positions"] = np.zeros(1, np.int32)  # [CLS] opens every example
    out["sentence_weights"] = np.ones(1, np.float32)
    out.update({k: np.asarray(example[k], np.int32).reshape(1) for k in labels})
  return out


def pack_row(parts: list[dict], spec: PackingSpec) -> dict:
  """Trimmed examples -> one packed row of model inputs (fixed shapes [L], [P'], [S]).

  Example s (1-based) takes the next tokens; its prediction and SBO positions are shifted to
  row positions, and its [CLS] position and sentence label fill slot s - 1.
  """
  L, P, S = spec.max_seq_len, spec.max_predictions, spec.max_examples
  n_tok = sum(len(p["input_ids"]) for p in parts)
  n_pred = sum(len(p["mlm_positions"]) for p in parts if "mlm_positions" in p)
  if n_tok > L or n_pred > P or len(parts) > S:
    raise ValueError(f"a packed row got {len(parts)} examples, {n_tok} tokens and {n_pred} "
                     f"predictions; its capacity is {S}, {L} and {P}. The masking drew more "
                     "predictions than the budget the rows were planned with "
                     "(train.prediction_budget); use objective.masking='token' or unpacked rows")
  first = parts[0]
  row = {k: np.zeros(L, np.int32) for k in TOKEN_KEYS if k in first}
  row.update({k: np.zeros(P, np.asarray(first[k]).dtype) for k in PREDICTION_KEYS if k in first})
  sentence = [k for k in ("cls_positions", "sentence_weights", *SENTENCE_KEYS) if k in first]
  row.update({k: np.zeros(S, np.asarray(first[k]).dtype) for k in sentence})
  seg, pos = np.zeros(L, np.int32), np.zeros(L, np.int32)
  t = q = 0
  for s, ex in enumerate(parts):
    n = len(ex["input_ids"])
    for k in TOKEN_KEYS:
      if k in row:
        row[k][t:t + n] = ex[k]
    seg[t:t + n], pos[t:t + n] = s + 1, np.arange(n)
    m = len(ex["mlm_positions"]) if "mlm_positions" in ex else 0
    for k in PREDICTION_KEYS:
      if k in row:
        row[k][q:q + m] = np.asarray(ex[k]) + (t if k in ROW_POSITION_KEYS else 0)
    for k in sentence:
      row[k][s] = np.asarray(ex[k]).reshape(-1)[0] + (t if k == "cls_positions" else 0)
    t, q = t + n, q + m
  row.update(segment_ids=seg, positions=pos, attention_mask=(seg > 0).astype(np.int32))
  return row
