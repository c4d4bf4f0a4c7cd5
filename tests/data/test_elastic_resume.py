"""Elastic resume end to end: train.py's run() in jax.distributed processes on localhost (CPU
devices, gloo), saved by 2 processes and resumed on 1, on 4, and with a doubled global batch.

Run A trains N steps on 2 processes without a stop and logs the example ids of every global
batch (data.record_example_ids). Its checkpoint at step K is what 2 processes save at K (a run
stopped there writes the same state and data position), so each resumed run starts from a
copy of A's workdir holding only that checkpoint. After the resume, every global batch must
hold exactly the examples A's did, in A's order: for the same batch size step by step (and
the losses agree up to the order of the cross-host sums), for the doubled batch each step
holding two of A's steps. So the multiset of examples seen equals the uninterrupted run's.

Starting and compiling dominate runs this small, so the runs share a compilation cache (a
resume loads the programs its layout of devices shares with an earlier run), XLA skips its
expensive optimisations, and the runs that do not depend on each other (packed and unpacked;
the three resumes of each) run at the same time.
"""

import json
import os
import shutil
import sys

import numpy as np
import pytest
from datahelpers import corpus_text

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/
import localhost  # noqa: E402

from bertlab.data import prepare  # noqa: E402
from bertlab.data.tokenizer_training import train_tokenizer  # noqa: E402
from bertlab.training import batch_log  # noqa: E402

pytestmark = pytest.mark.slow  # 16 train.py processes: minutes of CPU on a 2-core machine

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = os.path.join(ROOT, "train.py")
CFG = os.path.join(ROOT, "tests", "training", "small_cfg.py")
DEVICES = 4         # in all, over the processes of a run
N, K, B = 6, 4, 8   # run A's steps; the step resumed from; the global batch
SEQ = 64
TINY = ["--config.model.num_layers=1", "--config.model.hidden_size=32",
        "--config.model.intermediate_size=64", "--config.model.num_heads=2",
        f"--config.data.max_seq_len={SEQ}", "--config.objective.max_predictions=10",
        "--config.eval_batches=0", "--config.log_every_steps=1",
        "--config.data.record_example_ids=True"]
# Short rows, so that packing puts several examples in a row; windows of 16 examples, so the
# saved position falls inside a window.
PACKING = ["--config.data.packing=True", "--config.data.pack_max_examples=4",
           "--config.data.pack_bins=4"]
# processes, global batch, total_steps; the doubled batch also on another host count (one
# process fewer to start).
RESUMES = {"1 process": (1, B, N), "4 processes": (4, B, N),
           "doubled batch": (1, 2 * B, K + (N - K) // 2)}


def _speed_env(root) -> dict[str, str]:
  """Environment of the runs: a compilation cache they share (the session's, from
  tests/conftest.py, else one here); XLA's flags are the session's (tests/conftest.py), so
  every run here is compiled the same way."""
  env = {"PYTHONPATH": os.pathsep.join([os.environ.get("PYTHONPATH", ""), ROOT])}
  if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    env.update(JAX_COMPILATION_CACHE_DIR=str(root / "jax_cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  return env


def _prepare(root) -> str:
  """A prepared corpus of short documents (1-4 sentences) and its own WordPiece tokenizer."""
  text = corpus_text(seed=5, docs=120, sentences=(1, 5))
  (root / "corpus.txt").write_text(text, encoding="utf-8")
  train_tokenizer("wordpiece", [text], vocab_size=1000).save(str(root / "tok"))
  o = dict(family="bert", corpus=[str(root / "corpus.txt")], doc_per_line=False,
           max_seq_len=SEQ, seed=0, short_seq_prob=0.1, dupe_factor=1, roberta_packing="full",
           tokenizer_kind="wordpiece", vocab_size=1000, lowercase=True,
           tokenizer_dir=str(root / "tok"))  # as options_from_config reads small_cfg.py:bert
  out = str(root / "prepared")
  assert prepare.prepare_shard(o, out, prepare.resolve_tokenizer(o, out, may_train=False))
  return out


def _losses(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  return {r["step"]: r["loss"] for r in rows if "loss" in r}


def _copy_at(src, dst, step):
  """dst: src's workdir as a run stopped after saving `step` leaves it (later checkpoints and
  logs are what the resumed run writes again; it drops their rows itself)."""
  shutil.copytree(src, dst, ignore=shutil.ignore_patterns("tensorboard"))
  ckpts = os.path.join(dst, "checkpoints")
  for name in os.listdir(ckpts):
    if name.isdigit() and int(name) > step:
      shutil.rmtree(os.path.join(ckpts, name))


def _position(workdir, step) -> dict:
  """The data position saved with the checkpoint at `step` (orbax's JSON item "data")."""
  with open(os.path.join(workdir, "checkpoints", str(step), "data", "metadata")) as f:
    return json.load(f)["iterator"]


def _seen(ids: dict[int, np.ndarray]) -> list[int]:
  """The multiset of stream positions trained on, sorted (-1: an empty packed slot)."""
  flat = np.concatenate([v.reshape(-1) for v in ids.values()])
  return sorted(flat[flat >= 0].tolist())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """({packed: A's data position saved at K}, {(packed, name): (stdout of process 0, example
  ids by step, loss by step)} for run "A" and each resume), packing off and on."""
  root = tmp_path_factory.mktemp("elastic")
  env = _speed_env(root)
  data = _prepare(root)

  def start(workdir, processes, batch, total, packed, every):
    return localhost.start(TRAIN, [
        f"--config={CFG}:bert", f"--workdir={workdir}", *TINY, f"--config.batch_size={batch}",
        f"--config.total_steps={total}", f"--config.checkpoint_every_steps={every}",
        f"--config.data.prepared_dir={data}", *(PACKING if packed else [])],
        processes, DEVICES, env)

  def folder(packed, name):
    return root / f"{name.replace(' ', '_')}-{'packed' if packed else 'unpacked'}"

  def resume(packed, name):
    processes, batch, total = RESUMES[name]
    _copy_at(folder(packed, "A"), folder(packed, name), K)
    return start(folder(packed, name), processes, batch, total, packed, 10 * N)

  # In stages, so that a run finds the programs of its layout of devices (processes x devices)
  # compiled by an earlier one: the 2 x 2 runs, then the first of 1 x 4 and 4 x 1, then the rest.
  # A saves at K (and N); the resumes only at their end.
  done = {(False, "A"): localhost.finish(start(folder(False, "A"), 2, B, N, False, K))[0]}
  stage = {(True, "A"): start(folder(True, "A"), 2, B, N, True, K),
           (False, "1 process"): resume(False, "1 process"),
           (False, "4 processes"): resume(False, "4 processes")}
  done.update({key: localhost.finish(procs)[0] for key, procs in stage.items()})
  stage = {key: resume(*key) for key in [(True, "1 process"), (True, "4 processes"),
                                         (False, "doubled batch"), (True, "doubled batch")]}
  done.update({key: localhost.finish(procs)[0] for key, procs in stage.items()})
  saved = {packed: _position(folder(packed, "A"), K) for packed in (False, True)}
  return saved, {(packed, name): (out, batch_log.read(folder(packed, name)),
                                  _losses(folder(packed, name)))
                 for (packed, name), out in done.items()}


PACKED = pytest.mark.parametrize("packed", [False, True], ids=["unpacked", "packed"])


@PACKED
def test_uninterrupted_run_trains_on_each_stream_position_once(runs, packed):
  saved, runs = runs
  out, ref, loss = runs[packed, "A"]
  assert "2 process(es)" in out
  assert sorted(ref) == sorted(loss) == list(range(1, N + 1))
  seen = _seen(ref)
  assert len(seen) == len(set(seen))
  if packed:
    assert ref[1].shape == (B, 4)
    assert len(seen) > 1.5 * N * B  # several examples per row
    done = seen[-1] // 16 * 16  # windows of 16: every window before the last one is whole
    assert set(range(done)) <= set(seen)
    assert saved[packed]["row"] > 0  # the checkpoint's position lies inside a window
    assert saved[packed]["examples"] == 16 * saved[packed]["window"]
  else:
    assert seen == list(range(N * B))  # the first N * B positions of epoch 0, each once
    assert saved[packed]["examples"] == K * B


@PACKED
@pytest.mark.parametrize("name", list(RESUMES))
def test_resume_sees_the_uninterrupted_runs_examples(runs, packed, name):
  """Saved by 2 processes at step K; resumed on `name`: every later global batch holds A's
  examples in A's order (two of A's steps per step with the doubled batch)."""
  _, runs = runs
  _, ref, ref_loss = runs[packed, "A"]
  out, ids, loss = runs[packed, name]
  processes, _, total = RESUMES[name]
  assert f"resumed from step {K}" in out and f"{processes} process(es)" in out
  assert _seen(ids) == _seen(ref)  # the multiset of examples trained on
  assert sorted(ids) == sorted(loss) == list(range(1, total + 1))
  for s in range(1, K + 1):  # the 2-process steps before the save, kept in the logs
    np.testing.assert_array_equal(ids[s], ref[s])
  if name == "doubled batch":
    for j in range(1, total - K + 1):  # step K + j holds A's steps K + 2j - 1 and K + 2j
      np.testing.assert_array_equal(ids[K + j],
                                    np.concatenate([ref[K + 2 * j - 1], ref[K + 2 * j]]))
  else:
    for s in range(K + 1, N + 1):
      np.testing.assert_array_equal(ids[s], ref[s], err_msg=f"step {s}")
    # The same batches on another host count: equal losses, up to the cross-host sums' order.
    np.testing.assert_allclose([loss[s] for s in range(1, N + 1)],
                               [ref_loss[s] for s in range(1, N + 1)], rtol=1e-5)
