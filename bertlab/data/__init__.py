"""Pretraining data: tokenizers, corpora, the token cache, per-family instances, the pipeline.

  build_pretraining_data(...)  corpus -> (tokenizer, instances): the trainer's entry point
  bertlab.data.pipeline        the grain pipeline over instances

Names are imported on first use, so `python -m bertlab.data.tokenizer_training` and light users do not
load grain or TFDS.
"""

import importlib

_EXPORTS = {
    "TokenCache": "cache", "build_cache": "cache", "load_cache": "cache",
    "Corpus": "corpora", "CorpusStats": "corpora", "TextFiles": "corpora",
    "open_corpus": "corpus_spec", "PydocCorpus": "corpora_builtin", "TfdsCorpus": "corpora_builtin",
    "FAMILIES": "instances", "build_instances": "instances",
    "build_pretraining_data": "pretraining_data", "make_dataset": "pipeline",
    "make_iterator": "pipeline", "train_tokenizer": "tokenizer_training",
    "Tokenizer": "tokenizers",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
  if name not in _EXPORTS:
    raise AttributeError(f"module 'bertlab.data' has no attribute {name!r}")
  return getattr(importlib.import_module(f"bertlab.data.{_EXPORTS[name]}"), name)
