"""Elastic resume end to end: train.py's run() in jax.distributed processes on localhost (CPU
devices, gloo), saved by 2 processes and resumed on 1, on 4, and with a doubled global batch.

Run A trains N steps on 2 processes without a stop and logs the example ids of every global
batch (data.record_example_ids). Its checkpoint at step K is what 2 processes save at K (a run
stopped there writes the same state and data position), so each resumed run starts from a
copy of A's workdir holding only that checkpoint. After the resume, every global batch must
hold exactly the examples A's did, in A's order: for the same batch size step by step (and
the losses agree up to the order of the cross-host sums), for the doubled batch each step
holding two of A's steps. So the multiset of examples seen equals the uninterrupted run's.
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

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = os.path.join(ROOT, "train.py")
CFG = os.path.join(ROOT, "tests", "training", "small_cfg.py")
DEVICES = 4         # in all, over the processes of a run
N, K, B = 6, 2, 8   # run A's steps; the step resumed from; the global batch
SEQ = 64
TINY = ["--config.model.num_layers=1", "--config.model.hidden_size=32",
        "--config.model.intermediate_size=64", "--config.model.num_heads=2",
        f"--config.data.max_seq_len={SEQ}", "--config.objective.max_predictions=10",
        "--config.eval_batches=0", "--config.log_every_steps=1",
        f"--config.checkpoint_every_steps={K}", "--config.data.record_example_ids=True"]
# Short rows, so that packing puts several examples in a row; windows of 16 examples, so the
# saved position falls inside a window.
PACKING = ["--config.data.packing=True", "--config.data.pack_max_examples=4",
           "--config.data.pack_bins=4"]
RESUMES = {"1 process": (1, B, N), "4 processes": (4, B, N),
           "doubled batch": (2, 2 * B, K + (N - K) // 2)}  # processes, batch, total_steps


@pytest.fixture(scope="module")
def prepared_dir(tmp_path_factory):
  """A prepared corpus of short documents (1-4 sentences) and its own WordPiece tokenizer."""
  root = tmp_path_factory.mktemp("elastic")
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


def _start(workdir, processes, batch, total, *extra):
  return localhost.start(TRAIN, [f"--config={CFG}:bert", f"--workdir={workdir}", *TINY,
                                 f"--config.batch_size={batch}",
                                 f"--config.total_steps={total}", *extra], processes, DEVICES)


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


def _seen(ids: dict[int, np.ndarray]) -> list[int]:
  """The multiset of stream positions trained on, sorted (-1: an empty packed slot)."""
  flat = np.concatenate([v.reshape(-1) for v in ids.values()])
  return sorted(flat[flat >= 0].tolist())


@pytest.mark.parametrize("packed", [False, True], ids=["unpacked", "packed"])
def test_resume_on_1_or_4_processes_or_doubled_batch_sees_the_uninterrupted_examples(
    tmp_path, prepared_dir, packed):
  extra = [f"--config.data.prepared_dir={prepared_dir}", *(PACKING if packed else [])]
  ref_dir = tmp_path / "A"
  out = localhost.finish(_start(ref_dir, 2, B, N, *extra))
  assert "2 process(es)" in out[0]
  ref, ref_loss = batch_log.read(ref_dir), _losses(ref_dir)
  assert sorted(ref) == sorted(ref_loss) == list(range(1, N + 1))
  seen = _seen(ref)
  assert len(seen) == len(set(seen))  # no stream position twice
  if packed:
    assert ref[1].shape == (B, 4)
    assert len(seen) > 1.5 * N * B  # several examples per row
    done = seen[-1] // 16 * 16  # windows of 16: every window before the last one is whole
    assert set(range(done)) <= set(seen)
  else:
    assert seen == list(range(N * B))  # one epoch's first N * B positions, each once

  runs = {}
  for name, (processes, batch, total) in RESUMES.items():  # all at once, each its own folder
    workdir = tmp_path / name.replace(" ", "_")
    _copy_at(ref_dir, workdir, K)
    runs[name] = workdir, processes, _start(workdir, processes, batch, total, *extra)
  for name, (workdir, processes, procs) in runs.items():
    out = localhost.finish(procs)
    assert f"resumed from step {K}" in out[0] and f"{processes} process(es)" in out[0], name
    ids, loss = batch_log.read(workdir), _losses(workdir)
    assert _seen(ids) == seen, name  # the multiset of examples trained on
    for s in range(1, K + 1):  # the 2-process steps before the save, kept in the logs
      np.testing.assert_array_equal(ids[s], ref[s])
    if name == "doubled batch":
      assert sorted(ids) == list(range(1, RESUMES[name][2] + 1))
      for j in range(1, (N - K) // 2 + 1):  # step K + j holds A's steps K + 2j - 1 and K + 2j
        np.testing.assert_array_equal(
            ids[K + j], np.concatenate([ref[K + 2 * j - 1], ref[K + 2 * j]]), err_msg=name)
    else:
      assert sorted(ids) == sorted(loss) == list(range(1, N + 1)), name
      for s in range(K + 1, N + 1):
        np.testing.assert_array_equal(ids[s], ref[s], err_msg=f"{name}, step {s}")
      np.testing.assert_allclose([loss[s] for s in range(1, N + 1)],
                                 [ref_loss[s] for s in range(1, N + 1)], rtol=1e-5,
                                 err_msg=name)
