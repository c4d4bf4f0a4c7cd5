"""Building the sharded, jit-compiled init and train step for any model + loss + batch."""

from __future__ import annotations

import dataclasses
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec

from bertlab.encoder.rows import rows_sharded
from bertlab.training import mesh as mesh_lib
from bertlab.training import optimizers
from bertlab.training.state import TrainState


@dataclasses.dataclass
class CompiledSteps:
  init: callable              # () -> TrainState, created already sharded
  train: callable             # (state, batch) -> (state, metrics); state donated
  eval: callable              # (params, batch) -> metrics
  state_shardings: object
  abstract_state: object
  batch_sharding: NamedSharding


def _rngs(key, step):
  k = jax.random.fold_in(key, step)
  dropout, sampling = jax.random.split(k)
  return {"dropout": dropout, "sampling": sampling}


def _rows_split(fn, sharding):
  """fn traced with each encoder layer's rows split as `sharding` (bertlab/encoder/rows.py)."""
  def traced(*args):
    with rows_sharded(sharding):
      return fn(*args)
  return traced


def build(model: nn.Module, tx: optax.GradientTransformation, schedule, mesh, example_batch,
          seed: int, grad_accum_steps: int = 1, donate: bool = True) -> CompiledSteps:
  """Init and step functions for `model`, whose apply(batch, deterministic) -> (loss, metrics).

  `example_batch`: global-shape arrays (or ShapeDtypeStructs) of one batch. Parameters and
  optimizer state are created sharded by their logical axes; batches are split over
  data x fsdp. With `grad_accum_steps` > 1 the batch is cut into that many micro-batches
  whose gradients (and metrics) are averaged before one update: memory of a micro-batch,
  the update of the whole batch (each micro-batch's loss is its own mean). `donate`: the
  step writes the new state into the old state's buffers (off only to measure what it saves).
  """
  batch_size = jax.tree_util.tree_leaves(example_batch)[0].shape[0]
  if batch_size % grad_accum_steps:
    raise ValueError(f"batch_size {batch_size} is not divisible by grad_accum_steps "
                     f"{grad_accum_steps}")
  micro = jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct((batch_size // grad_accum_steps,) + x.shape[1:], x.dtype),
      example_batch)
  zeros = jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape, x.dtype), micro)

  def init_boxed():
    key = jax.random.key(seed)
    params_key, init_key, state_key = jax.random.split(key, 3)
    variables = model.init({"params": params_key, **_rngs(init_key, 0)}, zeros)
    params = variables["params"]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=tx.init(params), rng=jax.random.key_data(state_key))

  abstract_boxed = jax.eval_shape(init_boxed)
  shardings = mesh_lib.shardings_of(abstract_boxed, mesh)
  abstract = nn.unbox(abstract_boxed)
  mesh_lib.check_divisible(abstract.params, shardings.params, mesh, batch_size)
  init = jax.jit(lambda: nn.unbox(init_boxed()), out_shardings=shardings)
  data_sharding = mesh_lib.batch_sharding(mesh)
  replicated = NamedSharding(mesh, PartitionSpec())

  def loss_fn(params, batch, rngs):
    loss, metrics = model.apply({"params": params}, batch, deterministic=False, rngs=rngs)
    return loss, metrics

  def train_step(state: TrainState, batch):
    rngs = _rngs(state.key, state.step)
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    if grad_accum_steps == 1:
      (_, metrics), grads = grad_fn(state.params, batch, rngs)
    else:
      chunks = jax.tree_util.tree_map(
          lambda x: x.reshape((grad_accum_steps, -1) + x.shape[1:]), batch)

      def accumulate(carry, xs):
        i, chunk = xs
        rs = {k: jax.random.fold_in(v, i) for k, v in rngs.items()}
        (_, m), g = grad_fn(state.params, chunk, rs)
        return jax.tree_util.tree_map(jnp.add, carry, (g, m)), None

      metric_shapes = jax.eval_shape(lambda: loss_fn(state.params, zeros, rngs)[1])
      zero = (jax.tree_util.tree_map(jnp.zeros_like, state.params),
              jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), metric_shapes))
      (grads, metrics), _ = jax.lax.scan(
          accumulate, zero, (jnp.arange(grad_accum_steps), chunks))
      grads, metrics = jax.tree_util.tree_map(lambda x: x / grad_accum_steps, (grads, metrics))
    params, opt_state = optimizers.update_params(tx, grads, state.opt_state, state.params)
    grad_norm = optax.global_norm(grads)  # the same test update_params skips a step by
    metrics = dict(metrics, grad_norm=grad_norm, learning_rate=schedule(state.step),
                   skipped=1 - jnp.isfinite(grad_norm).astype(jnp.int32))
    if "attention_mask" in batch:  # real (non-pad) tokens: what packing raises
      metrics["nonpad_tokens"] = batch["attention_mask"].sum()
    new = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    return new, metrics

  def eval_step(params, batch):
    rngs = _rngs(jax.random.key(seed + 1), 0)
    _, metrics = model.apply({"params": params}, batch, deterministic=True, rngs=rngs)
    return metrics

  batch_shardings = jax.tree_util.tree_map(lambda _: data_sharding, example_batch)
  train_step, eval_step = (_rows_split(f, data_sharding) for f in (train_step, eval_step))
  train = jax.jit(train_step, in_shardings=(shardings, batch_shardings),
                  out_shardings=(shardings, replicated),
                  donate_argnums=(0,) if donate else ())
  # Evaluation batches may carry other keys (e.g. unpacked rows while training packs them).
  evaluate = jax.jit(eval_step, in_shardings=(shardings.params, data_sharding),
                     out_shardings=replicated)
  return CompiledSteps(init=init, train=train, eval=evaluate, state_shardings=shardings,
                       abstract_state=abstract, batch_sharding=data_sharding)


def compile_ahead(steps: CompiledSteps, example_batch) -> tuple[object, float, dict]:
  """Ahead-of-time lower().compile() of the train step: (compiled, seconds, XLA cost analysis)."""
  t = time.perf_counter()
  abstract_batch = jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=steps.batch_sharding),
      example_batch)
  abstract_state = jax.tree_util.tree_map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
      steps.abstract_state, steps.state_shardings)
  compiled = steps.train.lower(abstract_state, abstract_batch).compile()
  seconds = time.perf_counter() - t
  try:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else (cost or {})
  except Exception:  # cost analysis is best-effort on some backends
    cost = {}
  return compiled, seconds, dict(cost)
