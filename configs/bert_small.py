"""BERT-small (L 4, H 512, A 8; Turc et al. 2019) with BERT's pretraining recipe.

  python train.py --config configs/bert_small.py --workdir runs/bert_small
"""

from bertlab.training.config import pretrain_config


def get_config():
  c = pretrain_config("bert", model="bert-small")
  c.batch_size = 256                   # Turc et al.: BERT's recipe
  c.total_steps = 1_000_000
  c.data.max_seq_len = 128
  c.objective.max_predictions = 20
  c.optimizer.learning_rate = 1e-4
  c.optimizer.warmup_steps = 10_000
  return c
