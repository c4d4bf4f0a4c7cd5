"""A pretraining run whose workdir is `gs://...` (the fake store of conftest.py): every file
goes to the store (config, metrics, the prepared corpus and its tokenizer, checkpoints), nothing
to the working directory, and the losses equal those of a local workdir, resumes included."""

import json
import os
import sys

import pytest

from bertlab import train
from bertlab.storage import files
from bertlab.training import checkpoint

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "training"))
from conftest import small  # noqa: E402


def _losses(text: str) -> dict[int, float]:
  return {r["step"]: r["loss"] for r in map(json.loads, text.splitlines()) if "loss" in r}


@pytest.fixture
def orbax_on_the_fake(gcs, monkeypatch):
  """Orbax writes gs:// through TensorStore's own GCS driver (not fsspec), which needs the
  network: it is handed the fake bucket's folder instead, after checking that it was given the
  gs:// address unchanged."""
  given = []
  real = checkpoint.ocp.CheckpointManager

  def manager(directory, options=None):
    given.append(str(directory))
    return real(gcs.local(str(directory)) if files.is_remote(directory) else directory,
                options=options)

  monkeypatch.setattr(checkpoint.ocp, "CheckpointManager", manager)
  return given


def test_gs_workdir_trains_resumes_and_matches_a_local_one(tmp_path, gcs, orbax_on_the_fake,
                                                            monkeypatch):
  monkeypatch.setenv("BERTLAB_LOCAL_CACHE", str(tmp_path / "mirror"))
  cwd = tmp_path / "cwd"
  cwd.mkdir()
  monkeypatch.chdir(cwd)
  quiet = lambda *_: None
  run = "gs://bucket/runs/bert"
  for workdir in (str(tmp_path / "local"), run):  # 10 steps, then resumed to 20
    train.run(small("bert", "", "", total_steps=10), workdir, echo=quiet)
    train.run(small("bert", "", "", total_steps=20), workdir, echo=quiet)

  assert orbax_on_the_fake[2:] == [f"{run}/checkpoints"] * 2
  assert os.listdir(cwd) == []  # no local "gs:" folder, nothing else
  names = files.listdir(run)
  assert {"checkpoints", "config.json", "metrics.jsonl", "cache"} <= set(names)
  assert files.listdir(f"{run}/checkpoints") == ["10", "20"]
  prepared = [n for n in files.listdir(f"{run}/cache") if n.startswith("prepared-")]
  assert len(prepared) == 1
  assert files.isfile(f"{run}/cache/{prepared[0]}/manifest.json")
  assert files.listdir(f"{run}/cache/{prepared[0]}/tokenizer")
  tokenizers = [n for n in files.listdir(f"{run}/cache") if n.startswith("tokenizer-")]
  assert len(tokenizers) == 1  # trained once, on the store
  local = _losses(open(tmp_path / "local" / "metrics.jsonl").read())
  remote = _losses(files.read_text(f"{run}/metrics.jsonl"))
  assert sorted(remote) == [5, 10, 15, 20]  # one row per step across the resume
  assert remote == local
  assert json.loads(files.read_text(f"{run}/config.json"))["total_steps"] == 20


def test_prepare_cli_writes_shards_to_gs_and_training_opens_them(tmp_path, gcs, monkeypatch,
                                                                  orbax_on_the_fake):
  from bertlab.data import prepare

  monkeypatch.setenv("BERTLAB_LOCAL_CACHE", str(tmp_path / "mirror"))
  corpus = tmp_path / "corpus"
  corpus.mkdir()
  for i in range(3):
    (corpus / f"{i}.txt").write_text("".join(
        f"Sentence {j} of file {i} says something about topic {j % 7}.\n"
        + ("\n" if j % 5 == 4 else "") for j in range(200)))
  cfg = os.path.join(os.path.dirname(__file__), "..", "training", "small_cfg.py")
  out = "gs://bucket/prepared"
  args = [f"--config={cfg}:bert", f"--out={out}", f"--config.data.corpus={corpus}/*.txt"]
  assert prepare.main(["prepare", *args, "--tokenizer_only"]) == 0
  assert prepare.main(["prepare", *args, "--shard=0/2"]) == 0
  assert not files.isfile(f"{out}/manifest.json")  # one of two shards
  assert prepare.main(["prepare", *args, "--shard=1/2"]) == 0
  manifest = files.read_json(f"{out}/manifest.json")
  assert manifest["num_examples"] > 0 and len(manifest["pieces"]) == 3
  for p in manifest["pieces"]:  # every piece complete on the store, its marker written last
    written = [w for w in gcs.writes if w.startswith(f"bucket/prepared/pieces/{p['dir']}/")]
    assert written[-1].endswith("/piece.json") and len(written) > 1

  c = small("bert", "", "", total_steps=5)
  c.data.corpus = f"{corpus}/*.txt"
  c.data.prepared_dir = out
  train.run(c, "gs://bucket/runs/from_prepared", echo=lambda *_: None)
  assert _losses(files.read_text("gs://bucket/runs/from_prepared/metrics.jsonl"))
