"""`bertlab.load(path)`: any checkpoint as one object to use from a notebook, on CPU or not.

  m = bertlab.load("runs/tiny_bert")        # our workdir, our converted layout, or an HF dir
  m.encode(["a text", ...])                 # {"hidden": [N, L, H], "mask": [N, L], ...}
  m.embed(texts, pooling="mean")            # [N, H]
  m.fill_mask("Paris is the [MASK] of France.")   # needs an MLM head
  m.classify(texts)                         # needs a fine-tuned sequence classifier
  m.tag("Ada Lovelace lived in London.")    # needs a fine-tuned token classifier
  m.answer("Where?", "She lived in London.")  # needs a fine-tuned extractive QA model

`encode` and `embed` pack several texts per row (each attending only to itself); the task
heads run length-sorted batches, each padded to its own bucketed length (see
`bertlab.inference`). Either way repeated calls reuse a few compiled programs.
Texts longer than the model's positions (or tokenizer_config.json's model_max_length) are
truncated, with one warning per model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from bertlab import inference, notebook_heads
from bertlab.convert.bundle import Bundle, build, describe
from bertlab.encoder import Encoder
from bertlab.objectives.electra import ElectraForPretraining
from bertlab.objectives.pretraining import MaskedLmModel
from bertlab.tasks.models import TaskModel

GENERIC_TOKENIZER_CLASSES = ("PreTrainedTokenizerFast", "TokenizersBackend")


def load(path: str, *, dtype: str = "float32", batch_size: int = 32, encoder_only: bool = False,
         step: int | None = None, seed: int | None = None) -> LoadedModel:
  """Loads a checkpoint directory: our pretraining or fine-tuning workdir, a directory
  `python -m bertlab.convert import` wrote, or a Hugging Face one (see
  `bertlab.convert.sources`). dtype: compute dtype (params stay float32). batch_size: texts
  per forward pass. step / seed: which checkpoint of a run (default newest / median)."""
  from bertlab.convert.sources import load_bundle

  bundle = load_bundle(path, encoder_only=encoder_only, step=step, seed=seed)
  return LoadedModel(bundle, dtype=dtype, batch_size=batch_size)


def load_tokenizer(directory: str):
  """Our Tokenizer from a checkpoint's files, also as Hugging Face ships them: casing and
  model_max_length (the `.model_max_length` attribute, None if unset) from
  tokenizer_config.json; tokenizer.json's stored padding and truncation switched off (we pad
  and truncate after adding special tokens); SentencePiece's own .model where tokenizer.json
  holds the Unigram conversion (albert-base-v2) that the wrapper does not read."""
  from bertlab.data.tokenizers import (META_FILE, SP_FILE, Tokenizer, model_max_length,
                                       read_tokenizer_config)

  if os.path.isfile(os.path.join(directory, META_FILE)):
    tok = Tokenizer.load(directory)
    tok.model_max_length = None
    return tok
  config = read_tokenizer_config(directory)
  lower = config.get("do_lower_case")
  try:
    tok = Tokenizer.load(directory, lowercase=lower, strip_accents=config.get("strip_accents"))
  except ValueError:
    if not os.path.isfile(os.path.join(directory, SP_FILE)):
      raise
    keep = config.get("keep_accents")
    tok = Tokenizer.from_files("sentencepiece", os.path.join(directory, SP_FILE),
                               lowercase=lower, strip_accents=None if keep is None else not keep)
  tok.model_max_length = model_max_length(config)
  # transformers builds the special tokens from a model class's own rules (BertTokenizer:
  # [CLS] A [SEP] B [SEP]) and uses tokenizer.json's post-processor only for its generic class.
  tok.use_post_processor = config.get("tokenizer_class") in GENERIC_TOKENIZER_CLASSES
  return tok


class LoadedModel:
  """A model, its params and tokenizer. Attributes: family, model (the flax module), params,
  config (the EncoderConfig `encode` runs), tokenizer (None if the checkpoint has none),
  labels (class names of a classifier), kind, source."""

  def __init__(self, bundle: Bundle, dtype: str = "float32", batch_size: int = 32):
    desc = describe(bundle.model)
    for key in ("config", "generator_config"):
      if key in desc:
        desc[key] = dict(desc[key], dtype=dtype)
    self.family, self.model = bundle.family, build(desc)
    self.params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float32), bundle.params)
    # The bundle shares these params (no second copy in memory); see `_bundle`.
    self.bundle = dataclasses.replace(bundle, params={})
    generator_only = (isinstance(self.model, ElectraForPretraining)
                      and "discriminator" not in bundle.halves)
    self.config = self.model.generator_config if generator_only else self.model.config
    self.tokenizer = load_tokenizer(bundle.tokenizer_dir) if bundle.tokenizer_dir else None
    self.labels, self.source, self.batch_size = bundle.labels, bundle.source, batch_size
    self._compiled, self._warned = {}, False
    # A sentence-transformers directory's pooling, max_seq_length and normalisation.
    self.pooling, self.embed_max_length, self.normalize = _sentence_transformers_config(
        bundle.source)

  @property
  def kind(self) -> str:
    """'encoder', 'pretraining', or the TaskModel's kind ('classification', ...)."""
    if isinstance(self.model, TaskModel):
      return self.model.kind
    return "encoder" if isinstance(self.model, Encoder) else "pretraining"

  @property
  def has_mlm(self) -> bool:
    return isinstance(self.model, MaskedLmModel) or (
        isinstance(self.model, ElectraForPretraining) and "generator" in self.bundle.halves)

  def __repr__(self):
    c = self.config
    tok = (f"{self.tokenizer.kind} tokenizer ({self.tokenizer.vocab_size} ids)"
           if self.tokenizer else "no tokenizer")
    return (f"<bertlab {self.family} {type(self.model).__name__} ({self.kind}): {c.num_layers} "
            f"layers, H {c.hidden_size}, vocab {c.vocab_size}, MLM head: {self.has_mlm}; {tok}; "
            f"from {self.source}>")

  # --- helpers -----------------------------------------------------------------------------

  def encode(self, texts: str | Sequence[str], text_pairs: Sequence[str] | None = None,
             max_length: int | None = None) -> dict[str, np.ndarray]:
    """The encoder's last hidden states: {"hidden": float32 [N, L, H], "mask": int32 [N, L]
    (1 on real tokens), "input_ids": int32 [N, L]}, L = the longest encoded text (with
    special tokens, at most max_length, default the model's positions)."""
    ids, types = self._inputs(texts, text_pairs, max_length)
    per_text = self._run_packed(ids, types)
    longest = max(len(r) for r in ids)
    hidden = np.zeros((len(ids), longest) + per_text[0].shape[1:], np.float32)
    for i, h in enumerate(per_text):
      hidden[i, :len(h)] = h
    mask = (np.arange(longest)[None] < np.array([len(r) for r in ids])[:, None])
    return {"hidden": hidden, "mask": mask.astype(np.int32),
            "input_ids": inference.pad_batch(ids, longest, len(ids), self.tokenizer.pad_id)}

  def embed(self, texts: str | Sequence[str], pooling: str | None = None,
            text_pairs: Sequence[str] | None = None, normalize: bool | None = None) -> np.ndarray:
    """One vector per text [N, H]: the mean of the hidden states over real tokens ("mean",
    special tokens included, as sentence-transformers) or the first token's state ("cls").
    pooling None: the directory's sentence-transformers pooling (1_Pooling/config.json), else
    "mean"; its max_seq_length also caps the texts. normalize: unit L2 norm (as
    encode(normalize_embeddings=True)); None: when the directory's modules end in Normalize."""
    pooling = pooling or self.pooling
    normalize = self.normalize if normalize is None else normalize
    if pooling not in ("mean", "cls"):
      raise ValueError(f"pooling: expected 'mean' or 'cls'; found {pooling!r}")
    ids, types = self._inputs(texts, text_pairs, self.embed_max_length)
    per_text = self._run_packed(ids, types)
    v = np.stack([h[0] if pooling == "cls" else h.mean(0, dtype=np.float64)
                  for h in per_text]).astype(np.float32)
    if normalize:
      v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    return v

  def fill_mask(self, text: str | Sequence[str], top_k: int = 5):
    """The top_k tokens at each mask of `text` (the vocabulary's mask token, or [MASK] or
    <mask>): a list of {"token", "id", "score" (probability), "sequence"} for one mask,
    a list of such lists for several; a list of those for a list of texts."""
    return notebook_heads.fill_mask(self, text, top_k)

  def classify(self, texts: str | Sequence[str], text_pairs: Sequence[str] | None = None):
    """A fine-tuned sequence classifier's prediction per text: {"label", "score"
    (probability)}; for a regression, {"score"}."""
    if self.kind not in ("classification", "regression"):
      raise ValueError(f"classify needs a fine-tuned sequence classifier (a "
                       f"*ForSequenceClassification directory or our fine-tuning workdir); this "
                       f"checkpoint is a {self.kind} {type(self.model).__name__}")
    ids, types = self._inputs(texts, text_pairs, None)
    fn = lambda params, i, m, t: self.model.apply({"params": params}, i, m, t,
                                                  method=TaskModel.logits).astype(jnp.float32)
    logits, _ = self._run("classify", fn, ids, types)
    if self.kind == "regression":
      return [{"score": float(x[0])} for x in logits]
    probs = np.asarray(jax.nn.softmax(logits.astype(np.float32)))
    labels = self.labels or [f"LABEL_{i}" for i in range(probs.shape[1])]
    return [{"label": labels[int(k)], "score": float(p[k])}
            for p, k in zip(probs, probs.argmax(1), strict=True)]

  def tag(self, texts: str | Sequence[str]) -> list:
    """A fine-tuned token classifier's entities per text: a list of {"text", "label",
    "start", "end" (characters), "score"} from word-level predictions (first sub-token),
    B-/I- merged (see `bertlab.notebook_heads`); one list for a single string."""
    return notebook_heads.tag(self, texts)

  def answer(self, question: str | Sequence[str], context: str | Sequence[str], **kwargs):
    """A fine-tuned extractive QA model's best span of `context`: {"answer", "start", "end",
    "score"}; long contexts in doc-stride windows. kwargs: top_k, max_answer_len,
    max_length, doc_stride (see `bertlab.notebook_heads.answer`)."""
    return notebook_heads.answer(self, question, context, **kwargs)

  def to_hf(self, out: str) -> list[str]:
    """Writes the model as a Hugging Face directory (see bertlab.convert.export)."""
    from bertlab.convert.export import export_bundle
    return export_bundle(self._bundle(), out)

  def save(self, out: str) -> list[str]:
    """Writes the model in our layout (bertlab.json + params.safetensors + tokenizer)."""
    from bertlab.convert.ours import save_ours
    return save_ours(self._bundle(), out)

  # --- internals ---------------------------------------------------------------------------

  def _bundle(self) -> Bundle:
    """The loaded bundle with the current params (as they are now, edits included); the
    module written is the one read (its dtype as stored)."""
    return dataclasses.replace(self.bundle, params=self.params)

  def _encoder_fn(self, params, ids, mask, types, positions=None, segments=None):
    """The last hidden states; positions / segments: rows packed with several texts."""
    def hidden(m, i, a, t):
      if isinstance(m, Encoder):
        enc = m
      elif isinstance(m, ElectraForPretraining):
        enc = getattr(m, "discriminator" if "discriminator" in self.bundle.halves
                      else "generator")
      else:
        enc = m.encoder
      return enc(i, a, t, True, positions, segments)[0]
    return self.model.apply({"params": params}, ids, mask, types, method=hidden)

  def _run_packed(self, ids, types) -> list[np.ndarray]:
    """Each text's last hidden states [n_i, H] (float32), texts packed several per row."""
    if "packed" not in self._compiled:
      self._compiled["packed"] = jax.jit(
          lambda p, i, a, t, pos, seg: self._encoder_fn(p, i, a, t, pos, seg).astype(jnp.float32))
    return inference.run_packed(self._compiled["packed"], self.params, ids, types,
                                self.tokenizer.pad_id, self.config.max_length, self.batch_size,
                                self.config.position_offset)

  def _mlm_logits(self, params, ids, mask, types, positions):
    if isinstance(self.model, ElectraForPretraining):
      return self.model.apply({"params": params}, ids, mask, types, positions,
                              method=ElectraForPretraining.generator_logits)
    return self.model.apply({"params": params}, ids, mask, types, positions,
                            method=MaskedLmModel.logits)["mlm"]

  def _run(self, name, fn, ids, types, extra=None, per_token=False):
    if name not in self._compiled:
      self._compiled[name] = jax.jit(fn)
    return inference.run_batched(self._compiled[name], self.params, ids, types,
                                 self.tokenizer.pad_id, self.config.max_length, self.batch_size,
                                 extra, per_token=per_token)

  def _limit(self, max_length: int | None) -> int:
    """Tokens per text with special tokens: the model's positions, tokenizer_config.json's
    model_max_length and max_length, whichever is least."""
    limits = [self.config.max_length, getattr(self._tokenizer(), "model_max_length", None),
              max_length]
    return min(x for x in limits if x)

  def _note_truncation(self, lengths, limit: int):
    over = sum(n > limit for n in lengths)
    if over and not self._warned:
      self._warned = True
      warnings.warn(f"{over} text(s) longer than {limit} tokens were truncated to {limit} "
                    "(the model's positions); this is said once per model", stacklevel=3)

  def _texts(self, texts) -> list[str]:
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
      raise ValueError("expected at least one text; found an empty list")
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
      raise TypeError(f"expected texts as strings; found {bad[0]}")
    return texts

  def _tokenizer(self):
    if self.tokenizer is None:
      raise ValueError(f"{self.source} has no tokenizer files; copy them (vocab.txt, "
                       "spiece.model, vocab.json + merges.txt or tokenizer.json) into it and "
                       "load again, or set .tokenizer = "
                       "bertlab.data.tokenizers.Tokenizer.load(DIR)")
    return self.tokenizer

  def _inputs(self, texts, text_pairs, max_length):
    tok = self._tokenizer()
    texts = self._texts(texts)
    if text_pairs is not None:
      text_pairs = [text_pairs] if isinstance(text_pairs, str) else list(text_pairs)
      if len(text_pairs) != len(texts):
        raise ValueError(f"text_pairs: expected {len(texts)} texts (one per text); found "
                         f"{len(text_pairs)}")
    a = [x for x, _ in tok.encode_batch(texts)]
    b = None if text_pairs is None else [x for x, _ in tok.encode_batch(text_pairs)]
    limit = self._limit(max_length)
    ids, types = inference.build_rows(tok, a, b, limit)
    start, mid, end, _ = inference.special_layout(tok, b is not None)
    extra = len(start) + len(end) + (0 if b is None else len(mid))
    self._note_truncation([len(x) + extra + (0 if b is None else len(b[i]))
                           for i, x in enumerate(a)], limit)
    self._check_ids(ids)
    return ids, types

  def _check_ids(self, ids):
    top = max(int(r.max()) for r in ids)
    if top >= self.config.vocab_size:
      raise ValueError(f"the tokenizer gives id {top}, beyond the model's vocab_size "
                       f"{self.config.vocab_size}: the tokenizer does not belong to this "
                       "checkpoint")


def _sentence_transformers_config(source: str) -> tuple[str, int | None, bool]:
  """(pooling, max_seq_length, whether a Normalize module follows) of a sentence-transformers
  directory (modules.json, 1_Pooling/config.json, sentence_bert_config.json); ("mean", None,
  False) elsewhere. Poolings other than mean and cls are named, for embed's error."""
  pooling, length, normalize = "mean", None, False
  if not os.path.isdir(str(source)):
    return pooling, length, normalize
  def read(*parts):
    with open(os.path.join(source, *parts), encoding="utf-8") as f:
      return json.load(f)
  if os.path.isfile(os.path.join(source, "modules.json")):
    for module in read("modules.json"):
      kind = module.get("type", "")
      normalize |= kind.endswith("Normalize")
      if kind.endswith("Pooling"):
        cfg = read(module.get("path", ""), "config.json")
        modes = [k[len("pooling_mode_"):] for k, v in cfg.items()
                 if k.startswith("pooling_mode_") and v is True]
        pooling = {"mean_tokens": "mean", "cls_token": "cls"}.get(
            "+".join(modes), "+".join(modes) or "mean")
  if os.path.isfile(os.path.join(source, "sentence_bert_config.json")):
    length = read("sentence_bert_config.json").get("max_seq_length")
  return pooling, length, normalize
