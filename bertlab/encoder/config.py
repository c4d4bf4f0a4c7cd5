"""The encoder's hyperparameters: one frozen, validated dataclass for all five families."""

from __future__ import annotations

import dataclasses
import difflib

ACTIVATIONS = ("gelu", "gelu_new", "relu", "silu", "tanh")
ATTENTION_IMPLS = ("xla", "cudnn")
DTYPES = ("float32", "bfloat16", "float16")
SHARING = ("none", "all", "groups")


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
  """Shape and behaviour of one Transformer encoder.

  `embedding_size` E differs from `hidden_size` H in ALBERT and ELECTRA: the embedding
  tables are E-wide and a dense projection maps E -> H before the layers.
  `sharing`: "none" (BERT), "all" (ALBERT: one set of layer weights used by every layer),
  or "groups" (ALBERT's `num_hidden_groups`: layers split into consecutive groups that
  share weights within a group).
  `position_offset`: RoBERTa's layout starts positions at `pad_token_id + 1`.
  `vocab_multiple`: the word table and every output (MLM) projection hold
  `padded_vocab_size` rows, `vocab_size` rounded up to this multiple, so that a tensor axis of
  2, 4, 8 ... divides the vocabulary dimension (30,522 divides by 2 only, 50,265 by no power
  of two). The padded rows are never predicted: heads mask their logits (encoder/vocab.py),
  so losses and accuracies equal the unpadded model's and samples never pick a padded id.
  1 = no padding, the shape of a Hugging Face checkpoint; pretraining configs default to 128
  (Megatron's make-vocab-size-divisible-by, MaxText's vocab padding), which every tensor width
  up to 128 divides and which keeps the table's rows a multiple of the TPU's 128-wide tiles.
  `attention_head_size`: the width D of one head; None means hidden_size // num_heads, as in
  every published model. Head pruning (bertlab.compress) keeps each head's width while it
  removes heads, so a pruned model has num_heads * D < hidden_size.
  Speed knobs that never change the parameters or the function computed:
  `remat` recomputes each layer's activations in the backward pass (memory for compute);
  `scan_layers` True runs the layers under `nn.scan` (compile time flat in depth), False
  unrolls them at compile time (the parameters stay stacked either way, so checkpoints do
  not care); None picks by backend: unrolled when compiled for CPU, where XLA's loop costs
  ~10 % of a bert-base train step (the scan's stacked residuals, slices and zero-filled
  gradient buffers) and bert-large still compiles in ~17 s; scanned on GPU and TPU, and in
  eager (un-jitted) calls, which would recompile an unrolled loop every time; `attention_impl` "cudnn" uses cuDNN's fused (flash) attention on an NVIDIA GPU
  in bfloat16/float16 ("xla" everywhere else; training with attention dropout always computes
  the softmax explicitly, which no fused kernel can drop out).
  """

  vocab_size: int = 30522
  hidden_size: int = 768
  num_layers: int = 12
  num_heads: int = 12
  intermediate_size: int = 3072
  embedding_size: int | None = None  # None: equal to hidden_size.
  attention_head_size: int | None = None  # None: hidden_size // num_heads.
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  vocab_multiple: int = 1  # pad the vocabulary dimension to a multiple of this (see above)
  position_offset: int = 0
  pad_token_id: int = 0
  hidden_act: str = "gelu"
  layer_norm_eps: float = 1e-12
  hidden_dropout: float = 0.1
  attention_dropout: float = 0.1
  initializer_range: float = 0.02
  sharing: str = "none"
  num_hidden_groups: int = 1
  pre_layer_norm: bool = False
  use_pooler: bool = True
  dtype: str = "float32"  # compute dtype; parameters are always float32.
  remat: bool = False
  scan_layers: bool | None = None  # None: unrolled on CPU, scanned elsewhere
  attention_impl: str = "xla"

  def __post_init__(self):
    def bad(field, msg):
      raise ValueError(f"EncoderConfig.{field}: {msg}")

    for f in ("vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size",
              "max_position_embeddings", "type_vocab_size", "num_hidden_groups",
              "vocab_multiple"):
      v = getattr(self, f)
      if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        bad(f, f"expected a positive int, got {v!r}")
    if self.attention_head_size is None and self.hidden_size % self.num_heads:
      bad("hidden_size", f"{self.hidden_size} is not divisible by num_heads={self.num_heads}; "
          "pick sizes with hidden_size % num_heads == 0")
    if self.attention_head_size is not None and (
        not isinstance(self.attention_head_size, int) or self.attention_head_size <= 0):
      bad("attention_head_size", f"expected None or a positive int, got "
          f"{self.attention_head_size!r}")
    if self.embedding_size is not None and (
        not isinstance(self.embedding_size, int) or self.embedding_size <= 0):
      bad("embedding_size", f"expected None or a positive int, got {self.embedding_size!r}")
    if self.hidden_act not in ACTIVATIONS:
      bad("hidden_act", f"unknown activation {self.hidden_act!r}; expected one of {ACTIVATIONS}"
          + _did_you_mean(self.hidden_act, ACTIVATIONS))
    if self.dtype not in DTYPES:
      bad("dtype", f"unknown dtype {self.dtype!r}; expected one of {DTYPES}"
          + _did_you_mean(self.dtype, DTYPES))
    if self.attention_impl not in ATTENTION_IMPLS:
      bad("attention_impl", f"unknown implementation {self.attention_impl!r}; expected one of "
          f"{ATTENTION_IMPLS}" + _did_you_mean(self.attention_impl, ATTENTION_IMPLS))
    if self.attention_impl == "cudnn" and self.dtype == "float32":
      bad("attention_impl", "cuDNN fused attention needs dtype bfloat16 or float16")
    if self.sharing not in SHARING:
      bad("sharing", f"unknown sharing mode {self.sharing!r}; expected one of {SHARING}"
          + _did_you_mean(self.sharing, SHARING))
    if self.num_layers % self.num_hidden_groups:
      bad("num_hidden_groups", f"num_layers={self.num_layers} is not divisible by "
          f"num_hidden_groups={self.num_hidden_groups}")
    if self.sharing != "groups" and self.num_hidden_groups != 1:
      bad("num_hidden_groups", f"{self.num_hidden_groups} groups need sharing='groups', "
          f"got sharing={self.sharing!r}")
    if not 0 <= self.position_offset < self.max_position_embeddings:
      bad("position_offset", f"{self.position_offset} must lie in [0, max_position_embeddings)")
    if not 0 <= self.pad_token_id < self.vocab_size:
      bad("pad_token_id", f"{self.pad_token_id} is not a token id of a {self.vocab_size}-token vocab")
    if self.scan_layers not in (None, True, False):
      bad("scan_layers", f"expected True, False or None (by backend), got {self.scan_layers!r}")
    for f in ("hidden_dropout", "attention_dropout"):
      if not 0.0 <= getattr(self, f) < 1.0:
        bad(f, f"a dropout rate lies in [0, 1), got {getattr(self, f)!r}")

  @property
  def embed_dim(self) -> int:
    """Width E of the embedding tables."""
    return self.embedding_size or self.hidden_size

  @property
  def padded_vocab_size(self) -> int:
    """Rows of the word table and columns of the MLM logits: vocab_size rounded up to a
    multiple of vocab_multiple. Ids from vocab_size on are padding, never predicted."""
    return -(-self.vocab_size // self.vocab_multiple) * self.vocab_multiple

  @property
  def head_dim(self) -> int:
    return self.attention_head_size or self.hidden_size // self.num_heads

  @property
  def max_length(self) -> int:
    """Longest sequence the position table supports."""
    return self.max_position_embeddings - self.position_offset

  @property
  def num_groups(self) -> int:
    """How many distinct sets of layer weights the stack holds."""
    return {"none": self.num_layers, "all": 1, "groups": self.num_hidden_groups}[self.sharing]

  def replace(self, **kw) -> EncoderConfig:
    unknown = sorted(set(kw) - {f.name for f in dataclasses.fields(self)})
    if unknown:
      names = [f.name for f in dataclasses.fields(self)]
      raise ValueError(f"EncoderConfig has no field(s) {unknown}"
                       + "".join(_did_you_mean(u, names) for u in unknown))
    return dataclasses.replace(self, **kw)

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: dict) -> EncoderConfig:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
      raise ValueError(f"EncoderConfig has no field(s) {unknown}"
                       + "".join(_did_you_mean(u, names) for u in unknown))
    return cls(**d)


def _did_you_mean(name, options) -> str:
  close = difflib.get_close_matches(str(name), list(options), n=1)
  return f" (did you mean {close[0]!r}?)" if close else ""
