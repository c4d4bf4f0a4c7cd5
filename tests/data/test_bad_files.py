"""Hostile corpus inputs are counted and skipped with their cause; only nothing usable is fatal.
Contents, not paths or times, define a corpus's fingerprint."""

import gzip
import os

import pytest

from bertlab.data import corpora, corpus_files
from bertlab.data.corpora import TextFiles


def _write(tmp_path, name, data: bytes):
  path = tmp_path / name
  path.write_bytes(data)
  return str(path)


def _good(tmp_path):
  return _write(tmp_path, "good.txt", b"one two.\nthree four.\n\nfive six.\n")


def test_truncated_gzip_is_counted_and_skipped(tmp_path):
  whole = gzip.compress(b"alpha beta.\n" * 2000)
  bad = _write(tmp_path, "cut.gz", whole[: len(whole) // 2])
  c = TextFiles([_good(tmp_path), bad])
  docs = list(c.documents())
  assert docs[:2] == [["one two.", "three four."], ["five six."]]
  assert c.stats.issues["unreadable_files_skipped"] == 1
  ((path, cause),) = c.stats.bad_files
  assert path == bad and cause.startswith("truncated gzip (EOFError")


def test_plain_text_named_gz_is_counted_and_skipped(tmp_path):
  bad = _write(tmp_path, "fake.gz", b"not compressed at all\n")
  c = TextFiles([_good(tmp_path), bad])
  assert len(list(c.documents())) == 2
  assert c.stats.issues == {"unreadable_files_skipped": 1}
  assert c.stats.bad_files == [[bad, "not a gzip file (Not a gzipped file (b'no'))"]]


def test_unreadable_file_is_counted_and_skipped(tmp_path, monkeypatch):
  # Tests run as root here, where file modes do not deny reads: the read itself is made to fail.
  bad = _write(tmp_path, "locked.txt", b"secret.\n")
  real = corpora.open_binary

  def deny(path):
    if path == bad:
      raise PermissionError(13, "Permission denied", path)
    return real(path)

  monkeypatch.setattr(corpora, "open_binary", deny)
  c = TextFiles([bad, _good(tmp_path)])
  assert len(list(c.documents())) == 2
  assert c.stats.issues == {"unreadable_files_skipped": 1}
  assert c.stats.bad_files[0][0] == bad and "PermissionError" in c.stats.bad_files[0][1]


def test_glob_in_unreadable_folder_names_the_folder(tmp_path, monkeypatch):
  locked = tmp_path / "locked"
  locked.mkdir()
  (locked / "a.txt").write_text("hidden.\n")
  real_glob = corpus_files.glob.glob
  monkeypatch.setattr(corpus_files.glob, "glob", lambda pat, **kw: [] if "locked" in pat
                      else real_glob(pat, **kw))

  def listdir(folder):
    if "locked" in folder:
      raise PermissionError(13, "Permission denied", folder)
    return os.listdir(folder)

  monkeypatch.setattr(corpus_files, "_listdir", listdir)
  good = _good(tmp_path)
  c = TextFiles([str(locked / "*.txt"), good])
  assert c.paths == [good] and len(list(c.documents())) == 2
  assert c.stats.issues == {"patterns_matching_nothing": 1}
  assert "cannot be listed: PermissionError" in c.stats.bad_files[0][1]
  with pytest.raises(FileNotFoundError, match=r"locked/\*\.txt' matches no file \(folder .*locked"
                     r".* cannot be listed: PermissionError"):
    TextFiles([str(locked / "*.txt")])


def test_nothing_usable_is_one_error_naming_files_and_causes(tmp_path):
  fake = _write(tmp_path, "fake.gz", b"plain\n")
  whole = gzip.compress(b"x\n" * 5000)
  cut = _write(tmp_path, "cut.gz", whole[:20])
  with pytest.raises(ValueError, match=r"empty corpus.*unreadable: .*cut\.gz \(truncated gzip.*"
                     r"fake\.gz \(not a gzip file"):
    list(TextFiles([cut, fake]).documents())


def test_touching_or_moving_files_keeps_the_fingerprint(tmp_path):
  a = _write(tmp_path, "a.txt", b"one.\n\ntwo.\n")
  b = _write(tmp_path, "b.gz", gzip.compress(b"three.\n"))
  f1 = TextFiles([a, b]).fingerprint()
  for p in (a, b):
    st = os.stat(p)
    os.utime(p, ns=(st.st_atime_ns + 10**9, st.st_mtime_ns + 10**9))
  assert TextFiles([a, b]).fingerprint() == f1
  moved = tmp_path / "elsewhere"
  moved.mkdir()
  for p in (a, b):
    os.rename(p, moved / os.path.basename(p))
  assert TextFiles([str(moved / "*")]).fingerprint() == f1
  (moved / "a.txt").write_bytes(b"one.\n\nTwo.\n")  # same size, one byte differs
  assert TextFiles([str(moved / "*")]).fingerprint() != f1


def test_expand_paths_is_linear_in_the_file_count(tmp_path):
  for i in range(3000):
    (tmp_path / f"f{i:05d}.txt").write_text("x\n")
  pats = [str(tmp_path / f"f{i:05d}.txt") for i in range(3000)] * 2
  import time
  t = time.perf_counter()
  paths = corpora.expand_paths(pats + [str(tmp_path / "*.txt")])
  assert len(paths) == 3000 and paths[0].endswith("f00000.txt")
  assert time.perf_counter() - t < 5.0  # a list-membership scan would be 3000 x 9000 compares


def test_remote_corpus_is_read_through_epath(tmp_path):
  # A fake "gs://" filesystem: etils' mock backend with every call mapped onto tmp_path.
  from etils import epath
  from etils.epath import testing as epath_testing

  local = tmp_path / "bucket"
  local.mkdir()
  (local / "a.txt").write_text("one two.\n\nthree.\n")
  (local / "b.gz").write_bytes(gzip.compress(b"four five.\n"))
  to_local = lambda p: str(p).replace("gs://bucket", str(local))
  to_remote = lambda p: str(p).replace(str(local), "gs://bucket")
  calls = []

  def fwd(name, back=None):
    def fn(orig, path, *a, **kw):
      calls.append(name)
      out = orig(to_local(path), *a, **kw)
      return [back(x) for x in out] if back else out
    return fn

  with epath_testing.mock_epath(open=fwd("open"), stat=fwd("stat"), glob=fwd("glob", to_remote),
                                exists=fwd("exists"), isdir=fwd("isdir")):
    c = TextFiles(["gs://bucket/*"])
    assert c.paths == ["gs://bucket/a.txt", "gs://bucket/b.gz"]
    assert list(c.documents()) == [["one two."], ["three."], ["four five."]]
    remote = c.fingerprint()
    assert {"open", "stat", "glob"} <= set(calls)
    assert epath.Path("gs://bucket/a.txt").exists()
  assert TextFiles([str(local / "*")]).fingerprint() == remote  # contents, not paths
