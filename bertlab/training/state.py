"""The whole train state: what a checkpoint holds besides the data position."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import optax


@flax.struct.dataclass
class TrainState:
  step: jax.Array                # int32 scalar: optimizer updates applied
  params: Any
  opt_state: optax.OptState
  rng: jax.Array                 # raw uint32 key data; per-step keys are fold_in(rng, step)

  @property
  def key(self):
    return jax.random.wrap_key_data(self.rng)
