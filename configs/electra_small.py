"""ELECTRA-Small (Clark et al. 2020, Table 6).

  python train.py --config configs/electra_small.py --workdir runs/electra_small

Discriminator L 12, H 256, A 4, E 128; generator 1/4 of the discriminator's width;
masks 15 % (85 % [MASK], 15 % kept); loss = MLM + 50 * RTD; shared embeddings.
"""

from bertlab.training.config import pretrain_config


def get_config():
  c = pretrain_config("electra", model="electra-small", generator_fraction=0.25)  # Table 6
  c.batch_size = 128                   # Table 6
  c.total_steps = 1_000_000            # Table 6
  c.data.max_seq_len = 128             # Table 6
  c.objective.mask_prob = 0.15         # Table 6
  c.objective.max_predictions = 19     # electra reference: int((0.15 + 0.005) * 128)
  c.objective.rtd_weight = 50.0        # Table 6: λ = 50
  c.optimizer.learning_rate = 5e-4     # Table 6
  c.optimizer.b2 = 0.999               # Table 6: Adam β2 0.999, ε 1e-6
  c.optimizer.eps = 1e-6
  c.optimizer.weight_decay = 0.01      # Table 6
  c.optimizer.warmup_steps = 10_000    # Table 6
  return c
