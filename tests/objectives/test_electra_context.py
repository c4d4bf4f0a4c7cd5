"""The discriminator learns from context, not only from which token it sees.

Rows count up by one (t, t+1, t+2, ... mod V'), so every token is equally frequent, and the
replacements are drawn uniformly: a token alone says nothing about whether it was replaced
(the AUC of any per-token rule is 1/2). Only its neighbours do. A discriminator whose
attention (or position, or segment, or padding) inputs were cut would stay at 1/2.

The RTD gradient is kept out of the shared embeddings here (`disc_updates_embeddings=False`).
With ELECTRA's full sharing this toy stalls: after 1,000 steps the generator is at chance
(MLM accuracy ~3 %) and the discriminator at the prior (RTD loss 0.478, AUC ~0.53), at lr 3e-4,
1e-3 and 3e-3, and with λ = 1; Hugging Face's ElectraForMaskedLM + ElectraForPreTraining with
the embeddings module shared (the reference's layout) stall the same way (AUC 0.48-0.54). The
generator alone (λ = 0) learns it, and so do both networks once RTD no longer moves the
embeddings (benchmarks/STUDY.md, the ELECTRA arm).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bertlab.encoder import EncoderConfig
from bertlab.objectives.electra import ElectraForPretraining

V, FIRST, L, B, P = 40, 5, 24, 32, 4
STEPS = 600  # ids FIRST..V-1 are the "words"; 0 pad, 4 [MASK]
CFG = EncoderConfig(vocab_size=V, hidden_size=32, num_layers=1, num_heads=2,
                    intermediate_size=64, max_position_embeddings=L, use_pooler=False,
                    hidden_dropout=0.0, attention_dropout=0.0)
GEN = CFG.replace(hidden_size=16, intermediate_size=32, num_heads=1)


def _batch(rng):
  words = V - FIRST
  start = rng.integers(0, words, size=(B, 1))
  ids = FIRST + (start + np.arange(L)) % words
  ids[:, -3:] = 0  # some padding, which the loss must skip
  pos = np.stack([rng.choice(L - 3, P, replace=False) for _ in range(B)])
  b = np.arange(B)[:, None]
  original = ids[b, pos]
  masked = ids.copy()
  masked[b, pos] = 4
  sample = FIRST + rng.integers(0, words, size=(B, P))  # uniform: no per-token cue
  return {"input_ids": jnp.asarray(masked), "attention_mask": jnp.asarray(ids > 0, jnp.int32),
          "token_type_ids": jnp.zeros((B, L), jnp.int32), "mlm_positions": jnp.asarray(pos),
          "mlm_ids": jnp.asarray(original), "mlm_weights": jnp.ones((B, P), jnp.float32)}, \
      jnp.asarray(sample)


def test_discriminator_learns_to_read_the_neighbours():
  model = ElectraForPretraining(CFG, GEN, disc_updates_embeddings=False)
  rng = np.random.default_rng(0)
  batch, sample = _batch(rng)
  init = jax.jit(lambda key: model.init({"params": key}, batch, sample_ids=sample))
  params = init(jax.random.key(0))["params"]
  opt = optax.adam(3e-3)
  state = opt.init(params)

  @jax.jit
  def step(params, state, batch, sample):
    (loss, _), g = jax.value_and_grad(
        lambda p: model.apply({"params": p}, batch, deterministic=False, sample_ids=sample),
        has_aux=True)(params)
    updates, state = opt.update(g, state, params)
    return optax.apply_updates(params, updates), state, loss

  @jax.jit
  def auc(params, batch, sample):
    return model.apply({"params": params}, batch, deterministic=True, sample_ids=sample)[1]

  before = auc(params, *_batch(np.random.default_rng(1)))["rtd_auc"]
  for _ in range(STEPS):
    params, state, _ = step(params, state, *_batch(rng))
  after = [float(auc(params, *_batch(np.random.default_rng(s)))["rtd_auc"]) for s in (1, 2)]
  assert abs(float(before) - 0.5) < 0.15, before
  assert min(after) > 0.75, (before, after)
