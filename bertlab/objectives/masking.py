"""Masking strategies for MLM pretraining: the public entry point.

| strategy            | function           | family                      | 80/10/10 drawn   |
|---------------------|--------------------|-----------------------------|------------------|
| token-level         | `mask_tokens`      | BERT, RoBERTa               | per token        |
| whole word          | `mask_whole_words` | BERT wwm                    | per token        |
| whole-word n-grams  | `mask_ngrams`      | ALBERT (n <= 3, p ∝ 1/n)    | per token        |
| geometric spans     | `mask_spans`       | SpanBERT (+ SBO targets)    | per span         |
| generator input     | `mask_electra`     | ELECTRA (85/0/15)           | per token        |

Each masks ONE sequence: `fn(input_ids, special_mask, word_starts=None, *, rng, vocab,
max_predictions, ...)` with input_ids int [L], special_mask bool [L] (True on [CLS], [SEP],
<s>, </s>, pads: never masked), word_starts bool [L] (first sub-token of each word; needed by
the whole-word strategies), `rng` a `np.random.Generator` and `vocab` a `MaskingVocab`. It
returns fixed shapes, so examples stack into batches: input_ids int32 [L] (corrupted),
mlm_positions int32 [P] (ascending), mlm_ids int32 [P] (original ids), mlm_weights f32 [P]
(0 on padding slots), P = max_predictions; `mask_spans` adds sbo_left / sbo_right / sbo_rel
int32 [P] and sbo_weights f32 [P]. The number masked is min(P, max(1, round(0.15 * n_real)))
with n_real the non-pad length (google-research/bert; see `num_to_predict` for the others).
Random replacements are uniform over non-special ids (the references draw from the whole
vocabulary, or SpanBERT from corpus frequencies: we never feed [CLS]/[MASK]/pad as "random").

Where masking runs: on the host, numpy, per sequence. Measured on this machine (2 CPU cores,
jax 0.10.2), token-level masking of a batch of 128 x 128, P = 20, in prototypes of each form:
  numpy, per sequence, a fresh Generator per example:  7.4 ms / batch (58 µs / seq, of which
                                                        15 µs create the Generator)
  numpy, vectorised over the batch (argsort of noise):  0.42 ms / batch
  JAX, jit, vectorised (top_k of noise), CPU:           0.42 ms from host arrays, 0.52 on device
This module, per sequence with `example_rng`, 128 sequences (µs / sequence):
               tokens  whole_words  ngrams  spans  electra
  L=128, P=20      55           80     147    143       55
  L=512, P=80      61          144     278    205       60
Span masking was not tried in JAX: its rejection loop, word extension and merging need a
`while_loop` over a data-dependent number of spans and would still not match the reference.
Decision: per-sequence numpy. The vectorised forms are ~15x faster, but the slowest case here
(ALBERT n-grams at L=512) still masks ~3,600 sequences per second per core, in grain workers
that run while the device computes, well above what a train step consumes. Per sequence buys
what matters more: (1) the reference algorithms are sequential (n-gram fallback, span
rejection, overlap merging) and are reproduced exactly, which a jit-able fixed-shape version
could only approximate; (2) each example's mask depends only on its own RNG, seeded from
(seed, epoch, example index), so masks are identical whatever the batch size, host count
or resume point; (3) no device memory, compilation or host-device traffic.

`STRATEGIES` names the strategies for configs; `as_transform(strategy, **settings)` makes one
the pipeline's per-example transform `(example, rng) -> example`. Dynamic masking (RoBERTa):
the pipeline maps it with `example_rng(seed, epoch, index)`, a new mask every epoch. Static
masking (BERT, ALBERT): `static_masks(examples, transform, dupe_factor, seed)` draws the masks
once; with the same seed its copy d equals dynamic masking's epoch d.
"""

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from bertlab.objectives.masking_core import MaskingVocab, num_to_predict, word_bounds
from bertlab.objectives.masking_ngram import mask_ngrams, ngram_probs, select_ngrams
from bertlab.objectives.masking_span import (
    mask_spans,
    merge_spans,
    select_spans,
    span_length_probs,
)
from bertlab.objectives.masking_token import mask_electra, mask_tokens, mask_whole_words

__all__ = [
    "STRATEGIES", "MaskingVocab", "as_transform", "example_rng", "mask_electra", "mask_ngrams",
    "mask_spans", "mask_tokens", "mask_whole_words", "merge_spans", "ngram_probs",
    "num_to_predict", "select_ngrams", "select_spans", "span_length_probs", "static_masks",
    "word_bounds",
]

# Names used by `config.objective.masking`.
STRATEGIES = {"token": mask_tokens, "whole_word": mask_whole_words, "ngram": mask_ngrams,
              "span": mask_spans, "electra": mask_electra}

Example = Mapping[str, np.ndarray]
Transform = Callable[[Example, np.random.Generator], dict]


def example_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
  """The Generator that masks example `index` in `epoch`: a pure function of the three
  (numpy's SeedSequence hashes them), so any worker, host or resumed run draws the same.
  Same definition as `bertlab.data.pipeline.example_rng`."""
  for name, value in (("seed", seed), ("epoch", epoch), ("index", index)):
    if int(value) < 0:
      raise ValueError(f"example_rng needs non-negative integers; got {name} = {value}.")
  return np.random.default_rng([int(seed), int(epoch), int(index)])


def as_transform(strategy: Callable[..., dict], **settings) -> Transform:
  """A strategy as a pipeline transform `(example, rng) -> example`.

  The example must hold input_ids and special_mask (and word_starts for the whole-word
  strategies); its other fields are kept, masking's outputs added (input_ids replaced).
  `settings`: the strategy's keywords, e.g. vocab=..., max_predictions=20.
  """

  def transform(example: Example, rng: np.random.Generator) -> dict:
    missing = [k for k in ("input_ids", "special_mask") if k not in example]
    if missing:
      raise KeyError(f"the example lacks {missing}; masking needs input_ids and special_mask "
                     f"(and word_starts for whole-word strategies). It has {sorted(example)}.")
    out = strategy(example["input_ids"], example["special_mask"], example.get("word_starts"),
                   rng=rng, **settings)
    return {**example, **out}

  return transform


def static_masks(examples: Sequence[Example] | Mapping[str, np.ndarray], fn: Transform,
                 dupe_factor: int, seed: int):
  """Materialises `dupe_factor` masked copies of every example (BERT's `dupe_factor`).

  Args:
    examples: a list of example dicts, or columns (dict of [N, ...] arrays, as the instance
      builders return them).
    fn: a transform `(example, rng) -> example`, e.g. `as_transform(mask_ngrams, vocab=vocab,
      max_predictions=20)`: the same one dynamic masking maps over the pipeline.
  Returns:
    the same layout with dupe_factor * N examples: copy d of example i at d * N + i, masked
    with `example_rng(seed, d, i)` (so copy d equals dynamic masking's epoch d); fields `fn`
    does not return are carried over. Shuffling is the pipeline's job, as the reference
    shuffles its instances after building them.
  """
  if dupe_factor < 1:
    raise ValueError(f"dupe_factor must be >= 1; got {dupe_factor}.")
  columns = isinstance(examples, Mapping)
  if columns:
    sizes = {k: len(v) for k, v in examples.items()}
    if len(set(sizes.values())) > 1:
      raise ValueError(f"columns of different lengths: {sizes}.")
    n = next(iter(sizes.values()), 0)
    rows = [{k: v[i] for k, v in examples.items()} for i in range(n)]
  else:
    rows = list(examples)
  out = [{**row, **fn(row, example_rng(seed, d, i))}
         for d in range(dupe_factor) for i, row in enumerate(rows)]
  if not columns:
    return out
  if not out:
    return {k: np.asarray(v)[:0] for k, v in examples.items()}
  return {k: np.stack([o[k] for o in out]) for k in out[0]}
