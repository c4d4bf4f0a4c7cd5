"""Opening a prepared corpus (`bertlab.data.prepare`), and preparing one cooperatively.

  open_prepared(DIR)                  -> Prepared: tokenizer, examples (random access), fingerprints
  prepare_cooperatively(options, DIR) every process its shard, a barrier, then open_prepared

`Prepared.examples` is the union of the pieces in corpus order; item i is a dict of dense rows
(the keys and dtypes of `bertlab.data.instances`), built from the memory-mapped token caches when
read, so a host holds no example arrays in memory.
"""

from __future__ import annotations

import dataclasses
import os

from bertlab.data import cache as cache_lib
from bertlab.data import example_index, prepare
from bertlab.data.tokenizers import Tokenizer
from bertlab.storage import files, mirror


@dataclasses.dataclass
class Prepared:
  path: str
  tokenizer: Tokenizer
  examples: example_index.Concat
  manifest: dict

  @property
  def fingerprints(self) -> dict[str, str]:
    """Content-based: {"tokenizer": ..., "data": ...} (saved with checkpoints, compared on resume)."""
    return dict(self.manifest["fingerprints"])


def open_prepared(path: str, options: dict | None = None) -> Prepared:
  """Opens `path/manifest.json`; `options` (see `prepare.options_from_config`), when given, must
  agree with what was prepared."""
  mpath = files.join(path, prepare.MANIFEST)
  if not files.isfile(mpath):
    shards = files.listdir(files.join(path, "shards"))
    raise FileNotFoundError(f"{path}: no {prepare.MANIFEST}; expected a directory written by "
                            f"`python -m bertlab.data.prepare` with every shard done (found shard "
                            f"records: {shards or 'none'})")
  manifest = files.read_json(mpath)
  if options is not None:
    want = prepare._example_options(options)
    diff = {k: (manifest["options"].get(k), v) for k, v in want.items()
            if manifest["options"].get(k) != v}
    if diff:
      raise ValueError(f"{path} was prepared with other options: "
                       + ", ".join(f"{k}={a!r} there, {b!r} here" for k, (a, b) in diff.items())
                       + "; prepare again with this config or drop data.prepared_dir")
  used = [p["dir"] for p in manifest["pieces"] if p["examples"]]
  # A remote directory is read from its local copy (memory maps need local files).
  local = mirror.pull(path, only=["tokenizer"] + [f"pieces/{d}" for d in used])
  tok = Tokenizer.load(os.path.join(local, "tokenizer"))
  if tok.fingerprint() != manifest["fingerprints"]["tokenizer"]:
    raise ValueError(f"{path}/tokenizer has fingerprint {tok.fingerprint()[:16]}, the manifest "
                     f"{manifest['fingerprints']['tokenizer'][:16]}; prepare the directory again")
  parts = []
  for name in used:
    d = os.path.join(local, "pieces", name)
    parts.append(example_index.ExampleIndex(d, cache_lib.load_cache(d)))
  return Prepared(path, tok, example_index.Concat(parts), manifest)


def prepare_cooperatively(options: dict, path: str, *, process_index: int, process_count: int,
                          barrier, tokenizer_cache: str | None = None) -> Prepared:
  """Each process prepares its shard of the corpus into `path` (shared by all), `barrier()`,
  then all open the union. Needs a fixed tokenizer when process_count > 1; a tokenizer trained
  here is kept under `tokenizer_cache` (default `path`), keyed by the corpus contents."""
  if process_count > 1 and not options["tokenizer_dir"]:
    raise ValueError("a multi-host run needs a fixed tokenizer: set data.tokenizer_dir (process "
                     "0 trains it there once if it is empty) or data.prepared_dir")
  if process_index == 0:  # trains into tokenizer_dir only if it holds no tokenizer yet
    tok = prepare.resolve_tokenizer(options, path, may_train=True, train_dir=tokenizer_cache)
  barrier()
  if process_index:
    tok = prepare.resolve_tokenizer(options, path, may_train=False)
  plan_manifest = prepare.prepare_shard(options, path, tok, process_index, process_count,
                                        progress=process_index == 0)
  barrier()
  if plan_manifest is None and not files.isfile(files.join(path, prepare.MANIFEST)):
    raise FileNotFoundError(f"{path}: every shard reported done but no manifest was written")
  return open_prepared(path, options)
