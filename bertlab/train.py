"""Pretraining entry point: config -> data -> model -> sharded steps -> loop.

  python train.py --config configs/tiny/electra.py --workdir runs/tiny_electra \
      [--config.KEY=VALUE ...]

The workdir holds everything of a run: checkpoints/, metrics.jsonl, tensorboard/, the
tokenizer and token cache (cache/), and config.json. Running the same command again resumes.
"""

from __future__ import annotations

import logging
import os
import sys

import jax
import numpy as np

from bertlab.training import config as config_lib

log = logging.getLogger("bertlab")

# What the models read from a batch; the rest of an instance stays on the host.
MODEL_KEYS = ("input_ids", "attention_mask", "token_type_ids", "mlm_positions", "mlm_ids",
              "mlm_weights", "nsp_label", "sop_label", "sbo_left", "sbo_right", "sbo_rel", "sbo_weights",
              "segment_ids", "positions", "cls_positions", "sentence_weights")  # last 4: packing


def masking_fn(config, tokenizer):
  """The family's masking as a pipeline transform `(example, rng) -> example`."""
  from bertlab.objectives import masking

  vocab = masking.MaskingVocab(vocab_size=tokenizer.vocab_size, mask_id=tokenizer.mask_id,
                               pad_id=tokenizer.pad_id, special_ids=tokenizer.special_ids)
  strategy = masking.STRATEGIES[config.objective.masking]
  kw = dict(vocab=vocab, max_predictions=config.objective.max_predictions,
            mask_prob=config.objective.mask_prob)

  def transform(example, rng):
    out = dict(example)
    out.update(strategy(example["input_ids"], example["special_mask"], example["word_starts"],
                        rng=rng, **kw))
    return out

  return transform


def _model_batch(batch: dict) -> dict:
  return {k: np.asarray(v) for k, v in batch.items() if k in MODEL_KEYS}


class _ModelKeys:
  """Wraps a grain iterator: yields only the keys the model reads; state passes through."""

  def __init__(self, it, make=None):
    self._it, self._make = it, make

  def __iter__(self):
    return self

  def __next__(self):
    return _model_batch(next(self._it))

  def fresh(self):
    """A new iterator over the same data from its start (this one is left where it is)."""
    return _ModelKeys(iter(self._make()))

  def get_state(self):
    return self._it.get_state()

  def set_state(self, state):
    self._it.set_state(state)


def packing_spec(config):
  """The row capacity when `data.packing` is on, else None."""
  from bertlab.data.packing import PackingSpec

  d = config.data
  if not d.packing:
    return None
  spec = PackingSpec.default(d.max_seq_len, config.objective.max_predictions, bins=d.pack_bins)
  if d.pack_max_examples:
    s = d.pack_max_examples
    spec = PackingSpec(d.max_seq_len, spec.max_predictions, s, d.pack_bins)
  return spec


def prepared_data(config, workdir: str):
  """The prepared corpus (`bertlab.data.prepared.Prepared`): opened from data.prepared_dir, or
  prepared under the cache folder, each process its shard (several hosts need a fixed
  tokenizer: data.tokenizer_dir or data.prepared_dir)."""
  from bertlab.data import prepare, prepared

  options = prepare.options_from_config(config)
  if config.data.prepared_dir:
    return prepared.open_prepared(config.data.prepared_dir, options)
  key = prepare._hash(dict(options, v=prepare.FORMAT))
  cache = config.data.cache_dir or os.path.join(workdir, "cache")

  def barrier():
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils

      multihost_utils.sync_global_devices("bertlab: corpus prepared")

  # A tokenizer trained here stays at cache/tokenizer-*/, where fine-tuning looks for it.
  return prepared.prepare_cooperatively(
      options, os.path.join(cache, "prepared-" + key), process_index=jax.process_index(),
      process_count=jax.process_count(), barrier=barrier, tokenizer_cache=cache)


def build_data(config, workdir: str):
  """(tokenizer, train iterator, eval batches) for this host."""
  from bertlab.data import example_index, pipeline
  from bertlab.objectives import masking

  d = config.data
  data = prepared_data(config, workdir)
  tokenizer, source = data.tokenizer, data.examples
  if tokenizer.vocab_size > config.model.vocab_size:
    raise ValueError(f"the tokenizer has {tokenizer.vocab_size} ids but model.vocab_size is "
                     f"{config.model.vocab_size}; set --config.model.vocab_size="
                     f"{tokenizer.vocab_size} (and generator.vocab_size for ELECTRA)")
  n = len(source)
  n_eval = min(int(n * d.eval_fraction), config.eval_batches * config.batch_size)
  n_eval -= n_eval % config.batch_size
  train = example_index.Slice(source, 0, n - n_eval)
  held_out = example_index.Slice(source, n - n_eval, n)
  transform = masking_fn(config, tokenizer)
  if not d.dynamic_masking:
    # Static masking: masks drawn once per instance, as BERT's create_pretraining_data.
    train = masking.static_masks([train[i] for i in range(len(train))], transform,
                                 dupe_factor=1, seed=config.seed)
    transform = None
  make = lambda: pipeline.make_dataset(train, global_batch_size=config.batch_size,
                                       seed=config.seed, map_fn=transform,
                                       packing=packing_spec(config))
  eval_batches = []
  if n_eval:
    rng = np.random.default_rng([config.seed, 1 << 30])
    per_host = config.batch_size // jax.process_count()
    lo = jax.process_index() * (n_eval // jax.process_count())
    masked = [masking_fn(config, tokenizer)(held_out[i], rng)
              for i in range(lo, lo + n_eval // jax.process_count())]
    for s in range(0, len(masked) - per_host + 1, per_host):
      rows = masked[s:s + per_host]
      eval_batches.append(_model_batch({k: np.stack([r[k] for r in rows]) for k in rows[0]}))
  log.info("data: %d training and %d held-out instances of length %d; vocab %d (%s)",
           n - n_eval, n_eval, d.max_seq_len, tokenizer.vocab_size, tokenizer.kind)
  train_iter = _ModelKeys(iter(make()), make)
  train_iter.fingerprints = data.fingerprints  # content-based {"tokenizer", "data"}
  return tokenizer, train_iter, eval_batches


def run(config, workdir: str, echo=print):
  """Train as `config` says, in `workdir` (resuming if it holds checkpoints)."""
  from bertlab.encoder.presets import count_params
  from bertlab.objectives.registry import build_model
  from bertlab.training import flops as flops_lib
  from bertlab.training import host_memory, loop, optimizers
  from bertlab.training import mesh as mesh_lib
  from bertlab.training import step as step_lib

  config_lib.validate(config)
  os.makedirs(workdir, exist_ok=True)
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json_best_effort(indent=2))
  enc = config_lib.encoder_config(config.model, "model")
  gen = (config_lib.encoder_config(config.generator, "generator")
         if config.family == "electra" else None)
  mesh = mesh_lib.make_mesh(config.mesh_shape)
  _, train_iter, eval_batches = build_data(config, workdir)
  o = config.objective
  model = build_model(config.family, enc, gen, rtd_weight=o.rtd_weight,
                      temperature=o.temperature, sbo_max_targets=o.sbo_max_targets,
                      sbo_position_dim=o.sbo_position_dim)
  tx, schedule = optimizers.build(config.optimizer, config.total_steps)
  # Shapes of a training batch (packed rows differ from the unpacked held-out batches).
  first = next(iter(train_iter.fresh())) if config.data.packing or not eval_batches else (
      eval_batches[0])
  example = {k: np.zeros((config.batch_size,) + v.shape[1:], v.dtype) for k, v in first.items()}
  steps = step_lib.build(model, tx, schedule, mesh, example, seed=config.seed,
                         grad_accum_steps=config.grad_accum_steps)
  compiled, compile_s, cost = step_lib.compile_ahead(steps, example)
  reserved = host_memory.reserve_for_step(compiled)  # no page faults in the first steps
  seq = config.data.max_seq_len
  flops = flops_lib.train_step_flops(config.family, enc, config.batch_size, seq,
                                     example["mlm_positions"].shape[1], gen)
  peak = flops_lib.measure_matmul_peak(1024)
  n_params = sum(x.size for x in jax.tree_util.tree_leaves(steps.abstract_state.params))
  echo(f"{config.family}: {n_params / 1e6:.2f}M parameters (encoder {count_params(enc) / 1e6:.2f}M)"
       f"; {flops / 1e9:.1f} GFLOPs/step (XLA: {float(cost.get('flops', 0)) / 1e9:.1f}); mesh "
       f"{dict(mesh.shape)} on {jax.device_count()} {jax.devices()[0].platform} device(s), "
       f"{jax.process_count()} process(es); train step compiled in {compile_s:.1f}s; matmul "
       f"peak {peak / 1e9:.0f} GFLOP/s per device"
       + (f"; host heap reserved {reserved / 1e9:.1f} GB" if reserved else ""))
  state, last = loop.run(steps=steps, train_iter=train_iter, eval_batches=eval_batches,
                         config=config, workdir=workdir, flops_per_step=flops, peak_flops=peak,
                         tokens_per_step=config.batch_size * seq, echo=echo,
                         prefetch=config.prefetch_batches)
  return state, last


def main(argv=None):
  from bertlab.training import cli

  argv = sys.argv if argv is None else argv

  def hosts(flags, fl):
    flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (several hosts)",
                        flag_values=fl)
    flags.DEFINE_integer("num_processes", None, "number of hosts", flag_values=fl)
    flags.DEFINE_integer("process_id", None, "this host's index", flag_values=fl)

  fl = cli.parse(argv, config_help="config file (configs/...py)",
                 workdir_help="run directory (resumes if it holds checkpoints)",
                 usage="python train.py --config CONFIG.py --workdir DIR [--config.KEY=VALUE ...]",
                 define_extra=hosts)
  logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
  logging.getLogger("bertlab").setLevel(logging.INFO)  # ours at INFO; libraries' chatter off
  if fl.num_processes and fl.num_processes > 1:
    # CPU hosts need a collectives backend across processes; accelerators bring their own.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=fl.coordinator_address,
                               num_processes=fl.num_processes, process_id=fl.process_id)
  return cli.run_or_exit(run, fl.config, fl.workdir)


if __name__ == "__main__":
  sys.exit(main())
