"""ELECTRA-Base (Clark et al. 2020, Table 6).

  python train.py --config configs/electra_base.py --workdir runs/electra_base
"""

from bertlab.training.config import pretrain_config


def get_config():
  c = pretrain_config("electra", model="electra-base", generator_fraction=1 / 3)  # Table 6
  c.batch_size = 256                   # Table 6
  c.total_steps = 766_000              # Table 6
  c.data.max_seq_len = 512             # Table 6
  c.objective.max_predictions = 79     # electra reference: int((0.15 + 0.005) * 512)
  c.optimizer.learning_rate = 2e-4     # Table 6
  c.optimizer.eps = 1e-6
  c.optimizer.weight_decay = 0.01
  c.optimizer.warmup_steps = 10_000
  return c
