"""Checkpoints with orbax: the whole train state plus the data iterator's position.

Saves are asynchronous; the newest `keep` are kept. On restore, a latest checkpoint that
cannot be read (killed mid-write, truncated, corrupt) is reported and the one before it used.
A checkpoint written under another model (WORKDIR/config.json, written only once a run has
restored or started cleanly, says which) is a `ConfigMismatchError`, not a corrupt file.
"""

from __future__ import annotations

import json
import logging

import jax
import orbax.checkpoint as ocp

from bertlab.storage import files

log = logging.getLogger(__name__)

# Config keys that decide the train state's shapes: a change makes the checkpoint unreadable.
STATE_KEYS = ("family", "model.", "generator.", "optimizer.name", "student.", "teacher.")


class ConfigMismatchError(ValueError):
  """The checkpoint was written with a config whose train state differs from this one."""


def check_config(workdir: str, config, directory: str) -> None:
  """ConfigMismatchError naming every state-shaping key that differs from WORKDIR/config.json."""
  path = files.join(workdir, "config.json")
  if not files.exists(path) or not hasattr(config, "to_json_best_effort"):
    return
  try:
    saved = files.read_json(path)
  except ValueError:
    return
  now = json.loads(config.to_json_best_effort())

  def flat(d, prefix=""):
    for k, v in d.items():
      if isinstance(v, dict):
        yield from flat(v, f"{prefix}{k}.")
      else:
        yield f"{prefix}{k}", v

  old, new = dict(flat(saved)), dict(flat(now))
  for section in ("model.", "generator."):
    _same_padded_vocab(old, new, section)
  differ = [f"{k}: {old.get(k)!r} in the checkpoint's config, {new.get(k)!r} now"
            for k in sorted(set(old) | set(new))
            if k.startswith(STATE_KEYS) and old.get(k) != new.get(k)]
  if differ:
    raise ConfigMismatchError(
        f"the checkpoints in {directory} were written with another model or optimizer ("
        + "; ".join(differ) + f"). Resume with the run's own config ({path}) or start a new "
        "workdir; the checkpoints are left as they are")


def _same_padded_vocab(old: dict, new: dict, section: str) -> None:
  """Treats vocab_multiple as equal (edits `old`) when the padded vocabulary has the same size:
  the state's shapes agree. Runs written before the key existed padded nothing (1)."""
  key = section + "vocab_multiple"
  if not any(k.startswith(section) for k in old) or key not in new:
    return
  old.setdefault(key, 1)
  v = old.get(section + "vocab_size")
  pad = lambda m: -(-v // m) * m
  if isinstance(v, int) and v == new.get(section + "vocab_size") and old[key] and new[key] and \
      pad(old[key]) == pad(new[key]):
    old[key] = new[key]


class Checkpointer:
  def __init__(self, directory: str, keep: int = 3, async_save: bool = True):
    self.directory = files.abspath(directory)  # orbax writes gs://... itself
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
      raise RuntimeError(f"none of the checkpoints {steps} in {self.directory} can be restored "
                         "(see the warnings above); if the config changed since they were "
                         "written, resume with WORKDIR/config.json, else move the directory "
                         "away to start afresh")
    return None

  def latest_step(self) -> int | None:
    steps = self.manager.all_steps()
    return max(steps) if steps else None

  def wait(self):
    self.manager.wait_until_finished()

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()
