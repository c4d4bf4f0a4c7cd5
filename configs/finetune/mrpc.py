"""MRPC (GLUE): paraphrase pairs, 2 classes, scored by accuracy and F1 (first: accuracy).

  python finetune.py --config configs/finetune/mrpc.py --workdir runs/mrpc \
      --config.init_from=PATH --config.train_file=glue_data/MRPC/train.tsv \
      --config.eval_file=glue_data/MRPC/dev.tsv

BERT §4.1 recipe; small data set, so several seeds help: --config.seeds="(0,1,2,3,4)".
BERT-base reaches F1 88.9 (GLUE test, BERT Table 1). TFDS: --config.tfds_name=glue/mrpc.
"""

from bertlab.finetune_config import finetune_config


def get_config():
  c = finetune_config("mrpc")
  c.optimizer.learning_rate = 2e-5     # BERT §4.1 grid
  c.num_epochs = 3.0                   # BERT §4.1
  c.seeds = (0, 1, 2)                  # BERT §4.1: random restarts on small data sets
  return c
