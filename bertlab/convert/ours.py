"""Our own checkpoint layout: what `python -m bertlab.convert import` writes.

  OUT/bertlab.json        {"format": "bertlab", "version": 1, "family", "model": {"class",
                          fields...}, "halves", "labels", "source"}
  OUT/params.safetensors  every param leaf, named by its path ("encoder/stack/layers/mlp/wi/
                          kernel"), float32; stacked layers keep their leading [G] axis
  OUT/<tokenizer files>   as the source had them (vocab.txt, spiece.model, vocab.json +
                          merges.txt, tokenizer.json, tokenizer_config.json, ...)

Nothing is pickled: the model is rebuilt from its class name and fields (`bundle.build`).
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np

from bertlab.convert.bundle import Bundle, build, check_params, describe, flatten, param_shapes
from bertlab.convert.bundle import unflatten

META = "bertlab.json"
PARAMS = "params.safetensors"
VERSION = 1
# Files a tokenizer may need, in any of the layouts `Tokenizer.load` and transformers read.
TOKENIZER_FILES = ("bertlab_tokenizer.json", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json", "added_tokens.json", "vocab.txt", "vocab.json",
                   "merges.txt", "spiece.model", "sentencepiece.bpe.model")
# Those that hold a vocabulary: a directory with one of them has a tokenizer.
VOCABULARIES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model",
                "sentencepiece.bpe.model")


def is_ours(path: str) -> bool:
  return os.path.isfile(os.path.join(path, META))


def has_tokenizer(path: str | None) -> bool:
  return bool(path) and os.path.isdir(path) and any(
      os.path.isfile(os.path.join(path, n)) for n in VOCABULARIES)


def copy_tokenizer(src: str, out: str) -> list[str]:
  """Copies the tokenizer files of directory `src` into `out`; returns their names."""
  names = [n for n in TOKENIZER_FILES if os.path.isfile(os.path.join(src, n))]
  for n in names:
    shutil.copyfile(os.path.join(src, n), os.path.join(out, n))
  return names


def save_ours(bundle: Bundle, out: str) -> list[str]:
  """Writes `bundle` in our layout into directory `out`; returns summary lines."""
  from safetensors.numpy import save_file

  os.makedirs(out, exist_ok=True)
  flat = {k: np.ascontiguousarray(np.asarray(v, np.float32))
          for k, v in flatten(bundle.params).items()}
  meta = {"format": "bertlab", "version": VERSION, "family": bundle.family,
          "model": describe(bundle.model), "halves": list(bundle.halves),
          "labels": bundle.labels, "source": bundle.source}
  save_file(flat, os.path.join(out, PARAMS), metadata={"format": "bertlab"})
  with open(os.path.join(out, META), "w", encoding="utf-8") as f:
    json.dump(meta, f, indent=2)
  lines = [f"wrote {out}/{PARAMS}: {len(flat)} tensors, "
           f"{sum(v.size for v in flat.values()):,} parameters", f"wrote {out}/{META}"]
  if has_tokenizer(bundle.tokenizer_dir):
    names = copy_tokenizer(bundle.tokenizer_dir, out)
    lines.append(f"tokenizer: copied {', '.join(names)}")
  else:
    lines.append("tokenizer: none in the source; `encode`, `fill_mask` and `classify` need "
                 "one: copy its files (vocab.txt, spiece.model, ...) into " + out)
  return lines


def load_ours(path: str) -> Bundle:
  """Reads a directory written by `save_ours`."""
  meta_file = os.path.join(path, META)
  try:
    with open(meta_file, encoding="utf-8") as f:
      meta = json.load(f)
  except FileNotFoundError as e:
    raise FileNotFoundError(f"{meta_file} does not exist: expected a directory written by "
                            "`python -m bertlab.convert import HF_DIR OUT`") from e
  except json.JSONDecodeError as e:
    raise ValueError(f"{meta_file} is not valid JSON ({e}); convert the checkpoint again") from e
  if meta.get("format") != "bertlab" or meta.get("version") != VERSION:
    raise ValueError(f"{meta_file}: expected format 'bertlab' version {VERSION}; found "
                     f"{meta.get('format')!r} version {meta.get('version')!r}")
  model = build(meta["model"])
  halves = tuple(meta.get("halves") or ())
  params = unflatten(read_params(os.path.join(path, PARAMS)))
  check_params(params, param_shapes(model, halves), path)
  return Bundle(meta["family"], model, params, path if has_tokenizer(path) else None,
                meta.get("labels"), halves, meta.get("source") or path)


def read_params(file: str) -> dict[str, np.ndarray]:
  """The flat {path: array} of a params.safetensors; a clear error if it is cut short."""
  from safetensors import SafetensorError
  from safetensors.numpy import load_file

  if not os.path.isfile(file):
    raise FileNotFoundError(f"{file} does not exist: the directory holds "
                            f"{sorted(os.listdir(os.path.dirname(file) or '.'))}; convert the "
                            "checkpoint again")
  try:
    return load_file(file)
  except (SafetensorError, OSError) as e:
    raise ValueError(f"{file} is not a complete safetensors file ({e}); it is probably "
                     "truncated or corrupt: convert or copy it again") from e
