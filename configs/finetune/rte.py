"""RTE (GLUE): entailment pairs, 2 classes, scored by accuracy.

  python finetune.py --config configs/finetune/rte.py --workdir runs/rte \
      --config.init_from=PATH --config.train_file=glue_data/RTE/train.tsv \
      --config.eval_file=glue_data/RTE/dev.tsv

2.5k training pairs: results vary with the seed (BERT §4.1), hence three seeds, median
reported. BERT-base reaches 66.4 % (GLUE test, BERT Table 1). TFDS: --config.tfds_name=glue/rte.
"""

from bertlab.finetune_config import finetune_config


def get_config():
  c = finetune_config("rte")
  c.optimizer.learning_rate = 2e-5     # BERT §4.1 grid
  c.num_epochs = 3.0                   # BERT §4.1
  c.seeds = (0, 1, 2)                  # BERT §4.1: random restarts on small data sets
  return c
