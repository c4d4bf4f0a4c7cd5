"""Pretraining entry point: config -> data -> model -> sharded steps -> loop.

  python train.py --config configs/tiny/electra.py --workdir runs/tiny_electra \
      [--config.KEY=VALUE ...]

The workdir holds everything of a run: checkpoints/, metrics.jsonl, tensorboard/, the
tokenizer and token cache (cache/), and config.json. Running the same command again resumes.
WORKDIR may be a `gs://...` path (bertlab/storage).
"""

from __future__ import annotations

import logging
import sys

import jax
import numpy as np

from bertlab.pretrain_steps import packing_spec
from bertlab.storage import files
from bertlab.training import config as config_lib

log = logging.getLogger("bertlab")

# What the models read from a batch; the rest of an instance stays on the host.
MODEL_KEYS = ("input_ids", "attention_mask", "token_type_ids", "mlm_positions", "mlm_ids",
              "mlm_weights", "nsp_label", "sop_label", "sbo_left", "sbo_right", "sbo_rel", "sbo_weights",
              "segment_ids", "positions", "cls_positions", "sentence_weights")  # last 4: packing


class _Masking:
  """The family's masking as a pipeline transform `(example, rng) -> example`; a class (not a
  closure) so that data worker processes can receive it pickled."""

  def __init__(self, name: str, vocab, max_predictions: int, mask_prob: float):
    self.name, self.vocab = name, vocab
    self.max_predictions, self.mask_prob = max_predictions, mask_prob

  def __call__(self, example, rng):
    from bertlab.objectives import masking

    out = dict(example)
    out.update(masking.STRATEGIES[self.name](
        example["input_ids"], example["special_mask"], example["word_starts"], rng=rng,
        vocab=self.vocab, max_predictions=self.max_predictions, mask_prob=self.mask_prob))
    return out


def masking_fn(config, tokenizer):
  """The family's masking as a pipeline transform `(example, rng) -> example`."""
  from bertlab.objectives import masking

  vocab = masking.MaskingVocab(vocab_size=tokenizer.vocab_size, mask_id=tokenizer.mask_id,
                               pad_id=tokenizer.pad_id, special_ids=tokenizer.special_ids)
  return _Masking(config.objective.masking, vocab, config.objective.max_predictions,
                  config.objective.mask_prob)


def _model_batch(batch: dict, keep=MODEL_KEYS) -> dict:
  return {k: np.asarray(v) for k, v in batch.items() if k in keep}


class _ModelKeys:
  """Wraps the stream iterator: yields only the keys the model reads (and `extra`, e.g. the
  example ids of data.record_example_ids); state passes through.

  `fingerprints` (tokenizer and data content) travel with the checkpoint and are compared on
  restore; `stream_key()` names the stream a saved position belongs to."""

  def __init__(self, it, make=None, fingerprints=None, extra=()):
    self._it, self._make = it, make
    self.fingerprints = dict(fingerprints or {})
    self._keep, self._extra = MODEL_KEYS + tuple(extra), tuple(extra)

  def __iter__(self):
    return self

  def __next__(self):
    return _model_batch(next(self._it), self._keep)

  def fresh(self):
    """A new iterator over the same data from its start (this one is left where it is)."""
    return _ModelKeys(iter(self._make()), self._make, self.fingerprints, self._extra)

  def get_state(self):
    return self._it.get_state()

  def set_state(self, state):
    self._it.set_state(state)

  def stream_key(self):
    return self._it.stream_key()

  def close(self):
    if hasattr(self._it, "close"):
      self._it.close()


def prepared_data(config, workdir: str):
  """The prepared corpus (`bertlab.data.prepared.Prepared`): opened from data.prepared_dir, or
  prepared under the cache folder, each process its shard (several hosts need a fixed
  tokenizer: data.tokenizer_dir or data.prepared_dir)."""
  from bertlab.data import prepare, prepared

  options = prepare.options_from_config(config)
  if config.data.prepared_dir:
    return prepared.open_prepared(config.data.prepared_dir, options)
  key = prepare._hash(dict(options, v=prepare.FORMAT))
  cache = config.data.cache_dir or files.join(workdir, "cache")

  def barrier():
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils

      multihost_utils.sync_global_devices("bertlab: corpus prepared")

  # A tokenizer trained here stays at cache/tokenizer-*/, where fine-tuning looks for it.
  return prepared.prepare_cooperatively(
      options, files.join(cache, "prepared-" + key), process_index=jax.process_index(),
      process_count=jax.process_count(), barrier=barrier, tokenizer_cache=cache)


EVAL_EPOCH = 2**31  # the masks of held-out example j come from example_rng(seed, EVAL_EPOCH, j)


def prediction_budget(config):
  """tokens int [N] -> the masking's prediction budget per example (BERT's rule, which every
  strategy here caps itself by), for planning packed rows before masking."""
  o = config.objective
  return lambda tokens: np.minimum(o.max_predictions,
                                   np.maximum(1, np.round(tokens * o.mask_prob))).astype(np.int64)


def build_data(config, workdir: str, rows: tuple[int, int] | None = None):
  """(tokenizer, train iterator, eval batches) for this host.

  rows: the rows [lo, hi) of every global batch this host's devices hold (default: an equal
  share by process index). A config.json of an older run (e.g. a distillation teacher's) may
  lack the newer data keys; their defaults apply. Training and evaluation batches are the same global batches for
  any number of hosts (data/stream.py)."""
  from bertlab.data import example_index, pipeline

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
  record = bool(d.get("record_example_ids", False))
  if rows is None:
    per_host = config.batch_size // jax.process_count()
    rows = (jax.process_index() * per_host, (jax.process_index() + 1) * per_host)
  # Static masking (BERT's create_pretraining_data): one mask per example, from an RNG keyed
  # by (seed, example index) only, drawn when the example is read (nothing held in memory).
  make = lambda: pipeline.make_dataset(train, global_batch_size=config.batch_size,
                                       seed=config.seed, map_fn=transform, rows=rows,
                                       packing=packing_spec(config),
                                       predictions=prediction_budget(config),
                                       static_masks=not d.dynamic_masking,
                                       num_workers=d.get("num_workers", 0), debug_ids=record)
  eval_batches = []
  for start in range(0, n_eval, config.batch_size):
    # Global eval batch: held-out examples [start, start + B); each masked by its own index.
    idx = range(start + rows[0], start + rows[1])
    masked = [transform(held_out[j],
                        pipeline.example_rng(config.seed, EVAL_EPOCH, j)) for j in idx]
    eval_batches.append(_model_batch({k: np.stack([r[k] for r in masked]) for k in masked[0]}))
  log.info("data: %d training and %d held-out instances of length %d; vocab %d (%s)",
           n - n_eval, n_eval, d.max_seq_len, tokenizer.vocab_size, tokenizer.kind)
  fingerprints = data.fingerprints  # content-based {"tokenizer", "data"} (bertlab.data.prepare)
  extra = (pipeline.EXAMPLE_KEY,) if record else ()
  return tokenizer, _ModelKeys(iter(make()), make, fingerprints, extra), eval_batches


def _latest_step(workdir: str) -> int | None:
  steps = [int(n) for n in files.listdir(files.join(workdir, "checkpoints")) if n.isdigit()]
  return max(steps) if steps else None


def run(config, workdir: str, echo=print):
  """Train as `config` says, in `workdir` (resuming if it holds checkpoints).

  With config.phases, one run moves through them (BERT's seq 128 then 512): each phase builds
  its data and compiles its step; the state carries over, and a resume picks the phase of the
  latest checkpoint."""
  from bertlab.training import host_memory
  from bertlab.training import mesh as mesh_lib

  config_lib.validate(config)
  files.makedirs(workdir)  # a local folder or gs://... (bertlab.storage)
  mesh = mesh_lib.make_mesh(config.mesh_shape)
  host_memory.keep_for_platform(mesh.devices.flat[0].platform)  # host tuning: CPU runs only
  ends = config_lib.phase_ends(config)
  latest = _latest_step(workdir)
  state, last = None, {}
  for k, end in enumerate(ends):
    if state is None and latest is not None and latest >= end and k < len(ends) - 1:
      continue  # a finished phase
    if len(ends) > 1:
      echo(f"phase {k + 1}/{len(ends)}: steps up to {end} at max_seq_len "
           f"{config.phases.max_seq_len[k]}")
    state, last = run_phase(config_lib.phase_config(config, k), workdir, mesh, echo,
                            state=state, until=end)
    if int(jax.device_get(state.step)) < end:  # stopped (SIGTERM): saved, exit
      break
  return state, last


def run_phase(config, workdir: str, mesh, echo=print, state=None, until=None):
  """Data, model, compiled steps and the loop for one phase (one max_seq_len)."""
  from bertlab import pretrain_steps
  from bertlab.data.pipeline import EXAMPLE_KEY
  from bertlab.encoder.presets import count_params
  from bertlab.training import chips
  from bertlab.training import flops as flops_lib
  from bertlab.training import host_memory, loop
  from bertlab.training import mesh as mesh_lib
  from bertlab.training import step as step_lib

  enc, gen = pretrain_steps.encoders(config, mesh.devices.flat[0].platform)
  rows = loop.host_rows(mesh_lib.batch_sharding(mesh), config.batch_size)
  _, train_iter, eval_batches = build_data(config, workdir, rows=rows)
  example = pretrain_steps.batch_spec(config)  # the batch's shapes, as benchmarks/aot.py sees them
  steps = pretrain_steps.build_steps(config, mesh, example)
  compiled, compile_s, cost = step_lib.compile_ahead(steps, example)
  reserved = host_memory.reserve_for_step(compiled)  # no page faults in the first steps
  seq = config.data.max_seq_len
  flops = flops_lib.train_step_flops(config.family, enc, config.batch_size, seq,
                                     example["mlm_positions"].shape[1], gen)
  peak = chips.peak_flops(mesh)
  n_params = sum(x.size for x in jax.tree_util.tree_leaves(steps.abstract_state.params))
  echo(f"{config.family}: {n_params / 1e6:.2f}M parameters (encoder {count_params(enc) / 1e6:.2f}M)"
       f"; {flops / 1e9:.1f} GFLOPs/step (XLA: {float(cost.get('flops', 0)) / 1e9:.1f}); mesh "
       f"{dict(mesh.shape)} on {jax.device_count()} {jax.devices()[0].platform} device(s), "
       f"{jax.process_count()} process(es); train step compiled in {compile_s:.1f}s; matmul "
       f"peak {peak / 1e9:.0f} GFLOP/s per device"
       + (f"; host heap reserved {reserved / 1e9:.1f} GB" if reserved else ""))
  return loop.run(steps=steps, train_iter=train_iter, eval_batches=eval_batches,
                  config=config, workdir=workdir, flops_per_step=flops, peak_flops=peak,
                  tokens_per_step=config.batch_size * seq, echo=echo,
                  prefetch=config.prefetch_batches, state=state, until=until,
                  log_key=EXAMPLE_KEY if config.data.get("record_example_ids") else None)


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
