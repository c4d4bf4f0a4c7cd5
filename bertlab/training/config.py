"""The pretraining config: its schema, defaults, and validation before anything compiles.

Config files (configs/*.py) start from `pretrain_config(family, model=PRESET)` and set the
paper's hyperparameters; `validate` rejects any key the schema does not have, naming the
nearest valid one, and any value the encoder or optimizer would reject.
"""

from __future__ import annotations

import copy
import dataclasses

import jax
import ml_collections

from bertlab.encoder import EncoderConfig, presets
from bertlab.objectives.registry import DEFAULT_MASKING, FAMILIES
from bertlab.training import optimizers
from bertlab.training.config_keys import check_keys
from bertlab.training.mesh import resolve_shape

MASKING = ("token", "whole_word", "ngram", "span", "electra")
TOKENIZERS = ("wordpiece", "sentencepiece", "bpe")
# model.vocab_multiple of every pretraining config: the vocabulary padded to a multiple of 128
# (Megatron's make-vocab-size-divisible-by, MaxText's default), so a tensor axis up to 128 wide
# divides it; the padded ids are never predicted (bertlab/encoder/vocab.py). Export writes the
# real vocab_size. A Hugging Face checkpoint loads unpadded (EncoderConfig's default, 1).
VOCAB_MULTIPLE = 128
DEFAULT_TOKENIZER = {"bert": "wordpiece", "albert": "sentencepiece", "roberta": "bpe",
                     "electra": "wordpiece", "spanbert": "wordpiece"}


def _encoder_dict(cfg: EncoderConfig) -> ml_collections.ConfigDict:
  d = dataclasses.asdict(cfg)
  d["embedding_size"] = d["embedding_size"] or 0  # 0 = same as hidden (ConfigDict keeps types)
  if d["scan_layers"] is None:  # by backend; still a bool field for --config.model.scan_layers
    d["scan_layers"] = ml_collections.config_dict.placeholder(bool)
  return ml_collections.ConfigDict(d)


def pretrain_config(family: str, model: str, generator: str | None = None,
                    generator_fraction: float | None = None) -> ml_collections.ConfigDict:
  """Defaults for `family` with the encoder preset `model` (and ELECTRA's generator).

  `generator_fraction` scales the discriminator's hidden size, FFN size and heads
  (ELECTRA Table 6: 1/4 small and large, 1/3 base) when no generator preset is named.
  """
  if family not in FAMILIES:
    raise ValueError(f"family: {family!r} is not one of {FAMILIES}")
  enc = presets.get(model).replace(vocab_multiple=VOCAB_MULTIPLE)
  c = ml_collections.ConfigDict()
  c.family = family
  c.model = _encoder_dict(enc)
  c.generator = ml_collections.ConfigDict()
  if family == "electra":
    if generator:
      gen = presets.get(generator).replace(vocab_multiple=enc.vocab_multiple)
    else:
      f = generator_fraction or 0.25
      gen = enc.replace(hidden_size=max(int(enc.hidden_size * f), 1),
                        intermediate_size=max(int(enc.intermediate_size * f), 1),
                        num_heads=max(int(enc.num_heads * f), 1))
    c.generator = _encoder_dict(gen.replace(embedding_size=enc.embed_dim, use_pooler=False))

  c.objective = ml_collections.ConfigDict(dict(
      masking=DEFAULT_MASKING[family],
      mask_prob=0.15,           # all five papers
      max_predictions=20,       # BERT at seq 128; ~ mask_prob * seq_len in general
      rtd_weight=50.0,          # ELECTRA λ
      temperature=1.0,          # ELECTRA sampling temperature
      disc_updates_embeddings=True,  # ELECTRA: RTD's gradient trains the shared embeddings too
      sbo_max_targets=15,       # SpanBERT
      sbo_position_dim=200,     # SpanBERT
  ))
  c.data = ml_collections.ConfigDict(dict(
      corpus="",                # comma-separated files/globs; "" = the built-in default corpus
      tfds_name="",             # e.g. "wikipedia/20230601.en" (read with tfds.data_source)
      tfds_split="train",
      one_doc_per_line=False,
      tokenizer=DEFAULT_TOKENIZER[family],
      tokenizer_dir="",         # load from here; "" = train on the corpus into the workdir
      vocab_size=30522,         # when training a tokenizer; must not exceed model.vocab_size
      lowercase=family not in ("roberta", "spanbert"),  # byte BPE and SpanBERT are cased
      max_seq_len=128,
      cache_dir="",             # "" = WORKDIR/cache
      prepared_dir="",          # a corpus from `python -m bertlab.data.prepare`; "" = prepare here
      eval_fraction=0.02,       # held-out slice of instances for periodic evaluation
      dynamic_masking=True,     # RoBERTa; False = static masks drawn once per instance
      roberta_packing="full",   # RoBERTa T2: "full" (FULL-SENTENCES, across documents), "doc"
      packing=False,            # several examples per row, no padding computed (data/packing.py)
      pack_max_examples=0,      # examples per packed row; 0 = max_seq_len // 16
      pack_bins=64,             # best-fit packing window: 4 x pack_bins examples
      num_workers=0,            # processes that read, mask and pack batches ahead; 0 = inline
      allow_new_data=False,     # resume on other data / tokenizer: its stream starts at example 0
      record_example_ids=False,  # debug: each step's example ids to WORKDIR/example_ids/
  ))
  # Training phases one run moves through, e.g. BERT A.2: 90 % of the steps at seq 128 (20
  # predictions), 10 % at 512 (80). Empty = one phase at data.max_seq_len. Each phase is its
  # own data stream (instances of its length, from example 0); the optimizer runs through.
  c.phases = ml_collections.ConfigDict(dict(
      fraction=(),              # of total_steps, summing to 1
      max_seq_len=(),           # data.max_seq_len of each phase
      max_predictions=(),       # objective.max_predictions of each phase
  ))
  c.optimizer = ml_collections.ConfigDict(dict(
      name="adamw", learning_rate=1e-4, b1=0.9, b2=0.999, eps=1e-6, weight_decay=0.01,
      warmup_steps=10_000, schedule="linear", power=1.0, end_lr_ratio=0.0, clip_norm=1.0,
      max_consecutive_bad_steps=10,
  ))
  c.data.vocab_size = enc.vocab_size
  c.batch_size = 256            # global, over all hosts and devices
  c.grad_accum_steps = 1
  c.prefetch_batches = 2        # read and placed on the devices while the step runs; 0 = off
  c.total_steps = 1_000_000
  c.seed = 0
  c.mesh_shape = (-1, 1, 1)     # (data, fsdp, tensor); -1 = the rest of the devices
  c.checkpoint_every_steps = 1000
  c.keep_checkpoints = 3
  c.log_every_steps = 50
  c.eval_every_steps = 1000
  c.eval_batches = 10
  c.progress_bar = True
  return c


def validate(config: ml_collections.ConfigDict, n_devices: int | None = None) -> None:
  """Raise ValueError on an unknown key (naming the nearest valid one) or a bad value.
  `n_devices`: the devices mesh_shape must cover (default: this process's jax.device_count();
  an ahead-of-time compile passes the target topology's)."""
  if "family" not in config or config.family not in FAMILIES:
    raise ValueError(f"config.family must be one of {FAMILIES}, got {config.get('family')!r}")
  reference = pretrain_config(config.family, "bert-tiny" if config.family != "electra"
                              else "electra-small")
  check_keys(config, reference, "pretrain_config()")
  encoder_config(config.model, "model")
  if config.family == "electra":
    encoder_config(config.generator, "generator")
  if config.objective.masking not in MASKING:
    raise ValueError(f"config.objective.masking: {config.objective.masking!r} is not one of "
                     f"{MASKING}")
  if config.data.tokenizer not in TOKENIZERS:
    raise ValueError(f"config.data.tokenizer: {config.data.tokenizer!r} is not one of "
                     f"{TOKENIZERS}")
  if config.optimizer.name not in optimizers.OPTIMIZERS:
    raise ValueError(f"config.optimizer.name: {config.optimizer.name!r} is not one of "
                     f"{optimizers.OPTIMIZERS}")
  if config.optimizer.schedule not in optimizers.SCHEDULES:
    raise ValueError(f"config.optimizer.schedule: {config.optimizer.schedule!r} is not one of "
                     f"{optimizers.SCHEDULES}")
  if config.prefetch_batches < 0:
    raise ValueError(f"config.prefetch_batches: must be >= 0, got {config.prefetch_batches}")
  for key in ("batch_size", "total_steps", "checkpoint_every_steps", "log_every_steps",
              "grad_accum_steps", "keep_checkpoints", "eval_every_steps"):
    if config[key] <= 0:
      raise ValueError(f"config.{key}: must be positive, got {config[key]}")
  if config.data.max_seq_len > encoder_config(config.model, "model").max_length:
    raise ValueError(f"config.data.max_seq_len {config.data.max_seq_len} exceeds the model's "
                     f"{encoder_config(config.model, 'model').max_length} positions")
  resolve_shape(config.mesh_shape, n_devices or jax.device_count())
  if config.data.pack_max_examples < 0 or config.data.pack_bins < 1:
    raise ValueError("config.data.pack_max_examples must be >= 0 (0 = max_seq_len // 16) and "
                     f"config.data.pack_bins >= 1; got {config.data.pack_max_examples}, "
                     f"{config.data.pack_bins}")
  validate_phases(config)
  packing_mode = config.data.get("roberta_packing", "full")  # older config.json: "full"
  if packing_mode not in ("full", "doc"):
    raise ValueError(f"config.data.roberta_packing: expected 'full' (FULL-SENTENCES) or 'doc' "
                     f"(DOC-SENTENCES), got {packing_mode!r}")
  if packing_mode == "doc" and config.family != "roberta":
    raise ValueError(f"config.data.roberta_packing='doc' applies to RoBERTa only; a "
                     f"{config.family} run builds its own examples (SpanBERT's never cross a "
                     "document; BERT, ALBERT and ELECTRA build segment pairs)")
  if config.data.num_workers < 0:
    raise ValueError(f"config.data.num_workers: must be >= 0, got {config.data.num_workers}")
  if not 0 < config.objective.mask_prob < 1:
    raise ValueError(f"config.objective.mask_prob: must lie in (0, 1), got "
                     f"{config.objective.mask_prob}")


def validate_phases(config: ml_collections.ConfigDict) -> None:
  p = config.phases
  sizes = {k: len(p[k]) for k in ("fraction", "max_seq_len", "max_predictions")}
  if len(set(sizes.values())) != 1:
    raise ValueError(f"config.phases: fraction, max_seq_len and max_predictions need one entry "
                     f"per phase; got lengths {sizes}")
  if not sizes["fraction"]:
    return
  if any(f <= 0 for f in p.fraction) or abs(sum(p.fraction) - 1) > 1e-6:
    raise ValueError(f"config.phases.fraction: positive fractions of total_steps summing to 1, "
                     f"got {tuple(p.fraction)}")
  positions = encoder_config(config.model, "model").max_length
  if max(p.max_seq_len) > positions or min(p.max_seq_len) < 2 or min(p.max_predictions) < 1:
    raise ValueError(f"config.phases: max_seq_len in [2, {positions}] (the model's positions) "
                     f"and max_predictions >= 1; got {tuple(p.max_seq_len)}, "
                     f"{tuple(p.max_predictions)}")
  ends = phase_ends(config)
  if len(set(ends)) != len(ends) or ends[0] == 0:
    raise ValueError(f"config.phases: every phase needs at least one of the {config.total_steps} "
                     f"steps; fractions {tuple(p.fraction)} give phase ends {ends}")


def phase_ends(config: ml_collections.ConfigDict) -> list[int]:
  """The step at which each phase ends (the last one at total_steps)."""
  if not config.phases.fraction:
    return [config.total_steps]
  cum, ends = 0.0, []
  for f in config.phases.fraction:
    cum += f
    ends.append(min(config.total_steps, int(round(cum * config.total_steps))))
  ends[-1] = config.total_steps
  return ends


def phase_config(config: ml_collections.ConfigDict, k: int) -> ml_collections.ConfigDict:
  """The config of phase k: data.max_seq_len and objective.max_predictions set from it."""
  c = copy.deepcopy(config)
  if config.phases.fraction:
    c.data.max_seq_len = int(config.phases.max_seq_len[k])
    c.objective.max_predictions = int(config.phases.max_predictions[k])
  return c


def encoder_config(d: ml_collections.ConfigDict, where: str) -> EncoderConfig:
  """EncoderConfig from a config section; its errors name the section."""
  fields = d.to_dict()
  fields["embedding_size"] = fields.get("embedding_size") or None
  try:
    return EncoderConfig.from_dict(fields)
  except (ValueError, TypeError) as e:
    raise ValueError(f"config.{where}: {e}") from e
