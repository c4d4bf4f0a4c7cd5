"""The layer stack under `nn.scan`, with ALBERT's cross-layer parameter sharing.

Every sharing mode is one construction: an outer scan over G weight groups (parameters
stacked on a leading `layers` axis of size G) around an inner scan that applies a group's
weights R = num_layers / G times (parameters broadcast). BERT: G = L, R = 1. ALBERT "all":
G = 1, R = L. ALBERT `num_hidden_groups` = G: layer i uses group i // R, as the reference.
Compile time does not grow with depth, and shared weights are never copied.
`scan_layers=False` unrolls both loops (same parameters); None (the default) unrolls them only
in functions compiled for CPU (see `scans_layers`).
"""

import chex
import flax.linen as nn
import jax

from bertlab.encoder.common import layer_norm
from bertlab.encoder.config import EncoderConfig
from bertlab.encoder.layer import Layer


def scans_layers(cfg: EncoderConfig, traced: bool = True) -> bool:
  """Whether the layer loops run under `nn.scan`: `cfg.scan_layers`, or when it is None,
  everywhere but in a compiled CPU function. XLA:CPU pays for the loop itself (per-layer
  slices of the stacked weights, stacked residuals written and read back, zero-filled gradient
  accumulators): 0.89x the step time unrolled at bert-base size, where compiles stay short
  (bert-large: ~17 s). Called eagerly (`traced` False: a notebook's `Encoder(cfg).apply`
  outside jit) the loop stays scanned: an unrolled one is compiled anew on every call
  (bert-base forward 1.6-1.8 s per call against 0.35-0.47 s scanned)."""
  if cfg.scan_layers is not None:
    return cfg.scan_layers
  return not traced or jax.default_backend() != "cpu"


class Stack(nn.Module):
  config: EncoderConfig

  @nn.compact
  def __call__(self, x_BxLxH, mask, deterministic: bool = True):
    cfg = self.config
    body = nn.remat(Layer, prevent_cse=False) if cfg.remat else Layer
    repeat = cfg.num_layers // cfg.num_groups
    unroll = not scans_layers(cfg, traced=isinstance(x_BxLxH, jax.core.Tracer))
    # A group applied once is the layer itself (BERT's G = L): a length-1 inner scan would
    # only add a second level of stacked residuals.
    group = body if repeat == 1 else nn.scan(
        body,
        variable_broadcast="params",  # one set of weights, applied `repeat` times
        split_rngs={"params": False, "dropout": True},
        in_axes=(nn.broadcast,),
        length=repeat,
        unroll=unroll,
    )
    groups = nn.scan(
        group,
        variable_axes={"params": 0},  # G sets of weights, stacked
        split_rngs={"params": True, "dropout": True},
        in_axes=(nn.broadcast,),
        length=cfg.num_groups,
        unroll=unroll,
        metadata_params={nn.PARTITION_NAME: "layers"},
    )
    y_BxLxH, _ = groups(cfg, deterministic, name="layers")(x_BxLxH, mask)
    if cfg.pre_layer_norm:
      y_BxLxH = layer_norm(cfg, "final_norm")(y_BxLxH)
    chex.assert_equal_shape([x_BxLxH, y_BxLxH])
    return y_BxLxH
