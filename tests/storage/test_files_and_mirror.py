"""bertlab.storage on a local folder and on a fake gs:// store (conftest.py)."""

import os

import pytest

from bertlab.storage import files, mirror


@pytest.mark.parametrize("remote", [False, True])
def test_files_round_trip(remote, tmp_path, gcs):
  base = "gs://bucket/run" if remote else str(tmp_path / "run")
  files.makedirs(files.join(base, "sub"))
  files.write_json(files.join(base, "a.json"), {"x": 1})
  files.write_text(files.join(base, "sub", "b.txt"), "b")
  assert files.read_json(files.join(base, "a.json")) == {"x": 1}
  assert files.listdir(base) == ["a.json", "sub"]
  assert files.isdir(files.join(base, "sub")) and files.isfile(files.join(base, "sub", "b.txt"))
  assert files.size(files.join(base, "sub", "b.txt")) == 1
  assert files.listdir(files.join(base, "missing")) == []
  assert files.abspath(base) == (base if remote else os.path.abspath(base))
  files.rmtree(files.join(base, "sub"))
  assert not files.exists(files.join(base, "sub"))


@pytest.mark.parametrize("remote", [False, True])
def test_append_log_keeps_lines_and_never_appends_to_an_object(remote, tmp_path, gcs):
  path = "gs://bucket/m.jsonl" if remote else str(tmp_path / "m.jsonl")
  log = files.AppendLog(path)
  log.write("1\n")
  log.write("2\n")
  log.close()
  assert files.read_text(path) == "1\n2\n"
  log = files.AppendLog(path)  # reopened: the old lines stay
  log.write("3\n")
  log.close()
  assert files.read_text(path) == "1\n2\n3\n"
  log = files.AppendLog(path, keep=["1\n"])  # a resume drops the re-run rows
  log.write("2'\n")
  log.close()
  assert files.read_text(path) == "1\n2'\n"


def test_pull_copies_once_and_only_what_is_asked(tmp_path, gcs, monkeypatch):
  monkeypatch.setenv("BERTLAB_LOCAL_CACHE", str(tmp_path / "mirror"))
  for rel in ("tokenizer/vocab.txt", "pieces/p1/ids.npy", "pieces/p2/ids.npy"):
    files.makedirs(os.path.dirname(f"gs://b/prep/{rel}"))
    files.write_text(f"gs://b/prep/{rel}", rel)
  local = mirror.pull("gs://b/prep", only=["tokenizer", "pieces/p1"])
  assert local.startswith(str(tmp_path / "mirror"))
  got = sorted(os.path.relpath(os.path.join(d, f), local) for d, _, fs in os.walk(local)
               for f in fs)
  assert got == ["pieces/p1/ids.npy", "tokenizer/vocab.txt"]
  assert open(os.path.join(local, "pieces/p1/ids.npy")).read() == "pieces/p1/ids.npy"
  reads = []
  real = files.copy_from
  monkeypatch.setattr(files, "copy_from", lambda s, d: (reads.append(s), real(s, d)))
  assert mirror.pull("gs://b/prep", only=["tokenizer", "pieces/p1"]) == local
  assert reads == []  # up to date: nothing fetched again
  files.write_text("gs://b/prep/tokenizer/vocab.txt", "a much longer vocabulary")
  mirror.pull("gs://b/prep", only=["tokenizer"])
  assert reads == ["gs://b/prep/tokenizer/vocab.txt"]  # changed size: fetched
  files.write_text("gs://b/prep/tokenizer/vocab.txt", "a much longer VOCABULARY")
  os.utime(gcs.local("gs://b/prep/tokenizer/vocab.txt"), (1e9, 1e9))  # same size, other time
  mirror.pull("gs://b/prep", only=["tokenizer"])
  assert open(os.path.join(local, "tokenizer/vocab.txt")).read() == "a much longer VOCABULARY"
  assert mirror.pull(str(tmp_path)) == str(tmp_path)  # a local folder is its own copy


def test_publish_uploads_the_marker_last_and_keeps_the_local_copy(tmp_path, gcs, monkeypatch):
  monkeypatch.setenv("BERTLAB_LOCAL_CACHE", str(tmp_path / "mirror"))
  built = tmp_path / "built"
  (built / "sub").mkdir(parents=True)
  for name in ("z.npy", "piece.json", "a.npy", "sub/b.npy"):
    (built / name).write_text(name)
  mirror.publish(str(built), "gs://b/prep/pieces/p1", last="piece.json")
  assert gcs.writes[-1] == "b/prep/pieces/p1/piece.json"
  assert sorted(gcs.writes) == sorted(f"b/prep/pieces/p1/{n}"
                                      for n in ("z.npy", "piece.json", "a.npy", "sub/b.npy"))
  assert not built.exists()  # became the local copy: pulling it fetches nothing
  n = len(gcs.writes)
  local = mirror.pull("gs://b/prep/pieces/p1")
  assert open(os.path.join(local, "sub", "b.npy")).read() == "sub/b.npy" and len(gcs.writes) == n


def test_a_scheme_without_its_filesystem_is_one_clear_error():
  with pytest.raises(ValueError, match="no filesystem for nosuchfs://"):
    files.exists("nosuchfs://bucket/run")
