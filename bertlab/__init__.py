"""bertlab: BERT, ALBERT, RoBERTa, ELECTRA and SpanBERT in JAX/Flax.

`import bertlab` stays light (no jax, no flax): the names below load on first use.
  bertlab.load(path)                  a checkpoint as a notebook object (bertlab.notebook)
  bertlab.to_hf(model, params, out, family=...)   ours in memory -> a Hugging Face directory
"""

import importlib

_LAZY = {"load": ("bertlab.notebook", "load"), "LoadedModel": ("bertlab.notebook", "LoadedModel"),
         "to_hf": ("bertlab.convert.export", "to_hf")}
__all__ = sorted(_LAZY)


def __getattr__(name):
  if name not in _LAZY:
    raise AttributeError(f"module 'bertlab' has no attribute {name!r}; expected one of {__all__}")
  module, attr = _LAZY[name]
  value = getattr(importlib.import_module(module), attr)
  globals()[name] = value  # later lookups skip this function
  return value
