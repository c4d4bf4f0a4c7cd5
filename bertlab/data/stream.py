"""One global example stream, the same for any number of hosts: order, packing plan, position.

The stream is a pure function of (data, seed, max_seq_len, packing), never of the host count,
the batch size or the resume point:

  example g = 0, 1, 2, ... of the stream is source index perm_e[g % N] of epoch e = g // N,
  perm_e a permutation drawn from (seed, e). Its masks come from example_rng(seed, e, index)
  (static masking: (seed, 0, index), one mask per example for the whole run).

  Unpacked, row j of the global stream is example j. Packed, the example stream is cut into
  fixed windows of `spec.window` examples; each window is packed on its own (best-fit
  decreasing over token counts, with the masking's prediction budget as the second bound) into
  a list of rows; the row stream is the windows' rows in order. The plan reads only lengths, so
  every host plans every window (microseconds per example) but reads, masks and packs only the
  examples of its own rows.

  The global batch at step s is the next B rows of the row stream; host i takes rows
  [lo_i, hi_i) of it (by default i * B / P ... (i + 1) * B / P; train.py passes the rows its
  devices hold in the batch sharding). The position is global -- examples consumed, or
  (window, row) when packed -- so a run resumed with another host count or batch size
  continues at the same example: nothing is skipped or repeated.
"""

from __future__ import annotations

import dataclasses

import numpy as np


class GlobalOrder:
  """Stream position g -> (epoch, source index); a fresh permutation of the N examples each
  epoch, drawn from (seed, epoch) only."""

  def __init__(self, n: int, seed: int):
    if n < 1:
      raise ValueError(f"the stream needs at least one example, got {n}")
    self.n, self.seed = n, seed
    self._cache: dict[int, np.ndarray] = {}

  def permutation(self, epoch: int) -> np.ndarray:
    perm = self._cache.get(epoch)
    if perm is None:
      if len(self._cache) >= 2:  # a batch spans at most two epochs; keep host memory at 2 x N
        self._cache.clear()
      perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
      perm = perm.astype(np.int32 if self.n < 2**31 else np.int64)
      self._cache[epoch] = perm
    return perm

  def __call__(self, g) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(g, np.int64)
    epochs, k = g // self.n, g % self.n
    index = np.empty_like(g)
    for e in np.unique(epochs):
      m = epochs == e
      index[m] = self.permutation(int(e))[k[m]]
    return epochs, index


def plan_window(tokens: np.ndarray, predictions: np.ndarray, max_seq_len: int,
                max_predictions: int, max_examples: int) -> list[np.ndarray]:
  """Rows for one window: best-fit decreasing by token count, within all three capacities.

  tokens, predictions: int [W], each example's length and its prediction budget (an upper
  bound of what masking will draw). Returns the rows in order of opening, each the window
  positions of its examples, ascending. Deterministic: ties go to the earlier example / row.
  """
  tokens, predictions = np.asarray(tokens, np.int64), np.asarray(predictions, np.int64)
  too_big = np.flatnonzero((tokens > max_seq_len) | (predictions > max_predictions))
  if too_big.size:
    i = int(too_big[0])
    raise ValueError(f"an example of {tokens[i]} tokens and {predictions[i]} predictions cannot "
                     f"fit a packed row of {max_seq_len} tokens and {max_predictions} predictions"
                     "; the instances must be built for this data.max_seq_len (rows hold "
                     "objective.max_predictions + 2 predictions)")
  w = len(tokens)
  left_t = np.zeros(w, np.int64)   # at most one row per example
  left_p = np.zeros(w, np.int64)
  count = np.zeros(w, np.int64)
  members: list[list[int]] = []
  for i in np.argsort(-tokens, kind="stable"):
    t, p = tokens[i], predictions[i]
    r = len(members)
    fits = (left_t[:r] >= t) & (left_p[:r] >= p) & (count[:r] < max_examples)
    if fits.any():
      best = int(np.argmin(np.where(fits, left_t[:r], max_seq_len + 1)))
    else:
      best = r
      members.append([])
      left_t[best], left_p[best] = max_seq_len, max_predictions
    members[best].append(int(i))
    left_t[best] -= t
    left_p[best] -= p
    count[best] += 1
  return [np.sort(np.asarray(m, np.int64)) for m in members]


@dataclasses.dataclass
class Position:
  """Where the global stream stands: `examples` consumed (unpacked), or the next row as
  (window, row) of the packed row stream (`examples` = the examples of finished windows)."""

  examples: int = 0
  window: int = 0
  row: int = 0

  def to_json(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_json(cls, d: dict) -> Position:
    return cls(int(d["examples"]), int(d.get("window", 0)), int(d.get("row", 0)))


class PackedPlan:
  """The packed row stream: window plans made on demand (and the last few kept)."""

  def __init__(self, order: GlobalOrder, tokens: np.ndarray, predictions: np.ndarray, spec,
               total: int | None):
    self.order, self.tokens, self.predictions = order, tokens, predictions
    self.spec, self.total = spec, total
    self._plans: dict[int, list[np.ndarray]] = {}

  def window(self, w: int) -> list[np.ndarray]:
    """Rows of window w as global stream positions g ([] past the end of a finite stream)."""
    if w not in self._plans:
      if len(self._plans) >= 4:
        self._plans.pop(min(self._plans))
      lo = w * self.spec.window
      hi = lo + self.spec.window if self.total is None else min(lo + self.spec.window, self.total)
      if hi <= lo:
        self._plans[w] = []
      else:
        _, index = self.order(np.arange(lo, hi))
        rows = plan_window(self.tokens[index], self.predictions[index], self.spec.max_seq_len,
                           self.spec.max_predictions, self.spec.max_examples)
        self._plans[w] = [lo + r for r in rows]
    return self._plans[w]

  def take(self, pos: Position, n: int) -> tuple[list[np.ndarray], Position]:
    """The next n rows from `pos` (fewer at the end of a finite stream) and the position after."""
    rows: list[np.ndarray] = []
    w, r = pos.window, pos.row
    while len(rows) < n:
      plan = self.window(w)
      if r >= len(plan):
        if not plan:  # past the end
          break
        w, r = w + 1, 0
        continue
      k = min(n - len(rows), len(plan) - r)
      rows.extend(plan[r:r + k])
      r += k
    if r and r >= len(self.window(w)):  # normalised: a finished window is the next one's row 0
      w, r = w + 1, 0
    return rows, Position(w * self.spec.window, w, r)
