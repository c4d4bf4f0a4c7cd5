"""ALBERT-large (Lan et al. 2020, Table 1 and §4.1): L 24, H 1024, E 128, all layers shared.

  python train.py --config configs/albert_large.py --workdir runs/albert_large
"""

from bertlab.training.config import pretrain_config


def get_config():
  c = pretrain_config("albert", model="albert-large")
  c.batch_size = 4096                  # §4.1
  c.total_steps = 125_000
  c.data.max_seq_len = 512
  c.objective.masking = "ngram"
  c.objective.max_predictions = 20
  c.optimizer.name = "lamb"            # §4.1: LAMB, lr 0.00176
  c.optimizer.learning_rate = 0.00176
  c.optimizer.warmup_steps = 3_125
  return c
