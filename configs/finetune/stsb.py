"""STS-B (GLUE): sentence-pair similarity, a regression on [0, 5] (mean squared error),
scored by Pearson and Spearman correlation (first: Pearson).

  python finetune.py --config configs/finetune/stsb.py --workdir runs/stsb \
      --config.init_from=PATH --config.train_file=glue_data/STS-B/train.tsv \
      --config.eval_file=glue_data/STS-B/dev.tsv

BERT §4.1 recipe; BERT-base reaches Spearman 85.8 (GLUE test, BERT Table 1).
TFDS: --config.tfds_name=glue/stsb.
"""

from bertlab.finetune_config import finetune_config


def get_config():
  c = finetune_config("stsb")
  c.optimizer.learning_rate = 2e-5     # BERT §4.1 grid
  c.num_epochs = 3.0                   # BERT §4.1
  return c
