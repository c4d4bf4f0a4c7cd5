"""The trainer's corpus argument -> a Corpus: text files, a TFDS dataset, or the built-in text."""

from __future__ import annotations

from collections.abc import Sequence

from bertlab.data import corpora_builtin
from bertlab.data.corpora import Corpus, TextFiles


def open_corpus(spec: Sequence[str] | str | None, **options) -> Corpus:
  """The trainer's corpus argument as a Corpus.

  None: the built-in `PydocCorpus`. ["tfds:NAME[:SPLIT]"]: a `TfdsCorpus` (split default
  "train"). Otherwise file paths / globs for `TextFiles`; `options` go to that class.
  """
  if spec is None:
    return corpora_builtin.PydocCorpus(**_only(options, "max_line_bytes"))
  spec = [spec] if isinstance(spec, str) else list(spec)
  tfds_specs = [s for s in spec if s.startswith("tfds:")]
  if tfds_specs:
    if len(spec) != 1:
      raise ValueError(f"corpus: one 'tfds:NAME[:SPLIT]' entry alone, or text files; got {spec}")
    name, _, split = tfds_specs[0][len("tfds:"):].partition(":")
    return corpora_builtin.TfdsCorpus(name, split or "train",
                                      **_only(options, "split_sentences", "max_line_bytes",
                                              "text_key", "data_dir"))
  return TextFiles(spec, **options)


def _only(options: dict, *keys: str) -> dict:
  return {k: v for k, v in options.items() if k in keys and v is not None}
