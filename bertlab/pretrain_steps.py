"""The pretraining step of a config, built from shapes alone: what train.py runs and aot.py compiles.

`batch_spec(config)` gives the global batch as ShapeDtypeStructs without reading any data (the
keys and widths the data pipeline produces for the family, packed or not), and
`build_steps(config, mesh, batch)` the sharded init/train/eval functions for that batch. Both
train.py and benchmarks/aot.py call them, so an ahead-of-time compile for a TPU topology is the
program a pod would run.

Choices made "by backend" ask the platform of the mesh's devices, not `jax.default_backend()`:
compiling for a TPU topology on a CPU host must scan the layers as a TPU run would.
"""

from __future__ import annotations

import jax
import numpy as np

from bertlab.training import config as config_lib


def _platform(mesh) -> str:
  return mesh.devices.flat[0].platform


def encoders(config, platform: str = "cpu"):
  """(encoder, generator or None) of `config`, `scan_layers=None` resolved for `platform`.

  A vocabulary is padded up to `model.vocab_multiple` (so the tensor axis divides it); the
  real size stays in `config.model.vocab_size` and the heads never predict a padded row."""
  enc = config_lib.encoder_config(config.model, "model")
  gen = (config_lib.encoder_config(config.generator, "generator")
         if config.family == "electra" else None)

  def resolve(cfg):
    if cfg.scan_layers is None:  # scanned everywhere but in CPU-compiled steps (encoder/stack)
      cfg = cfg.replace(scan_layers=platform != "cpu")
    return cfg

  return resolve(enc), (resolve(gen) if gen is not None else None)


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


def batch_spec(config) -> dict:
  """The global training batch of `config` as {key: ShapeDtypeStruct}, without building data.

  Unpacked rows: tokens [B, L], predictions [B, P] (P = objective.max_predictions), the
  sentence label [B] (BERT NSP, ALBERT SOP), SpanBERT's boundary arrays [B, P]. Packed rows
  (data.packing) add segment_ids and positions [B, L], widen predictions to the packing's P',
  and carry S examples' [CLS] positions, labels and weights [B, S]
  (tests/test_pretrain_steps.py checks this against the real pipeline)."""
  b, seq = config.batch_size, config.data.max_seq_len
  i32, f32 = np.dtype(np.int32), np.dtype(np.float32)
  spec = packing_spec(config)
  p = spec.max_predictions if spec else config.objective.max_predictions
  shapes = {"input_ids": ((b, seq), i32), "attention_mask": ((b, seq), i32),
            "token_type_ids": ((b, seq), i32), "mlm_positions": ((b, p), i32),
            "mlm_ids": ((b, p), i32), "mlm_weights": ((b, p), f32)}
  label = {"bert": "nsp_label", "albert": "sop_label"}.get(config.family)
  if config.family == "spanbert":
    shapes.update({k: ((b, p), i32) for k in ("sbo_left", "sbo_right", "sbo_rel")})
    shapes["sbo_weights"] = ((b, p), f32)
  if spec:
    shapes.update(segment_ids=((b, seq), i32), positions=((b, seq), i32))
    if label:
      s = spec.max_examples
      shapes.update({label: ((b, s), i32), "cls_positions": ((b, s), i32),
                     "sentence_weights": ((b, s), f32)})
  elif label:
    shapes[label] = ((b,), i32)
  return {k: jax.ShapeDtypeStruct(shape, dtype) for k, (shape, dtype) in shapes.items()}


def build_steps(config, mesh, batch):
  """Sharded init / train / eval steps (bertlab.training.step.CompiledSteps) of `config` on
  `mesh`, for global batches shaped like `batch` (arrays or ShapeDtypeStructs)."""
  from bertlab.objectives.registry import build_model
  from bertlab.training import optimizers
  from bertlab.training import step as step_lib

  enc, gen = encoders(config, _platform(mesh))
  o = config.objective
  model = build_model(config.family, enc, gen, rtd_weight=o.rtd_weight,
                      temperature=o.temperature, sbo_max_targets=o.sbo_max_targets,
                      sbo_position_dim=o.sbo_position_dim,
                      disc_updates_embeddings=o.get("disc_updates_embeddings", True))
  tx, schedule = optimizers.build(config.optimizer, config.total_steps)
  return step_lib.build(model, tx, schedule, mesh, batch, seed=config.seed,
                        grad_accum_steps=config.grad_accum_steps)
