"""Checkpoints with orbax: the whole train state plus the data iterator's position.

Saves are asynchronous; the newest `keep` are kept. On restore, a latest checkpoint that
cannot be read (killed mid-write, truncated, corrupt) is reported and the one before it used.
"""

from __future__ import annotations

import logging
import os

import jax
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)


class Checkpointer:
  def __init__(self, directory: str, keep: int = 3, async_save: bool = True):
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                           enable_async_checkpointing=async_save)
    self.manager = ocp.CheckpointManager(self.directory, options=options)

  def save(self, step: int, state, data_state: dict | None, force: bool = False) -> bool:
    args = ocp.args.Composite(state=ocp.args.StandardSave(state),
                              data=ocp.args.JsonSave(data_state or {}))
    return self.manager.save(step, args=args, force=force)

  def restore_latest(self, abstract_state, state_shardings):
    """(state, data_state, step) from the newest readable checkpoint, or None if there is none."""
    target = jax.tree_util.tree_map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
        abstract_state, state_shardings)
    steps = sorted(self.manager.all_steps(), reverse=True)
    for step in steps:
      try:
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(target), data=ocp.args.JsonRestore()))
        return restored.state, dict(restored.data or {}), step
      except Exception as e:  # noqa: BLE001 - any unreadable checkpoint falls back to the previous
        log.warning("checkpoint at step %d in %s cannot be restored (%s: %s); trying the one "
                    "before it", step, self.directory, type(e).__name__, str(e)[:300])
    if steps:
      raise RuntimeError(f"none of the checkpoints {steps} in {self.directory} can be restored; "
                         "move the directory away to start afresh")
    return None

  def wait(self):
    self.manager.wait_until_finished()

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()
