"""A fake `gs://` object store for tests: fsspec's local filesystem under a temporary folder,
registered for the `gs` / `gcs` protocols that etils.epath asks fsspec for. Like GCS it cannot
append to an object; every object written is recorded in order (`store.writes`)."""

import importlib

import pytest
from fsspec.implementations.local import LocalFileSystem

# The module (the name fsspec.registry is its read-only view of the protocols).
fsspec_registry = importlib.import_module("fsspec.registry")


@pytest.fixture
def gcs(tmp_path, monkeypatch):
  """The fake store; `gcs.local("gs://b/x")` is where object gs://b/x lies on disk."""
  from etils.epath import backend as epath_backend

  root = str(tmp_path / "gcs")
  writes = []

  class FakeGCS(LocalFileSystem):
    protocol = ("gs", "gcs")
    cachable = False

    @classmethod
    def _strip_protocol(cls, path):
      path = str(path)
      for prefix in ("gs://", "gcs://"):
        if path.startswith(prefix):
          return f"{root}/{path[len(prefix):]}".rstrip("/")
      return super()._strip_protocol(path)

    def __init__(self, *args, finalize_on_close=None, **kwargs):
      super().__init__(auto_mkdir=True)

    def _open(self, path, mode="rb", **kwargs):
      if "a" in mode:
        raise NotImplementedError(f"object stores cannot append ({path})")
      if "w" in mode:
        writes.append(path[len(root) + 1:])
      return super()._open(path, mode=mode, **kwargs)

  for name in ("gs", "gcs"):  # fsspec.register_implementation, undone after the test
    monkeypatch.setitem(fsspec_registry._registry, name, FakeGCS)
  epath_backend.fsspec_backend._get_filesystem.cache_clear()
  yield _Store(root, writes)
  epath_backend.fsspec_backend._get_filesystem.cache_clear()


class _Store:
  def __init__(self, root, writes):
    self.root, self.writes = root, writes

  def local(self, uri: str) -> str:
    return f"{self.root}/{uri[len('gs://'):]}"
