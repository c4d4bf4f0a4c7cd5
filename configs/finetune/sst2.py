"""SST-2 (GLUE): single-sentence sentiment, 2 classes, scored by accuracy.

  python finetune.py --config configs/finetune/sst2.py --workdir runs/sst2 \
      --config.init_from=PATH --config.train_file=glue_data/SST-2/train.tsv \
      --config.eval_file=glue_data/SST-2/dev.tsv

Recipe of BERT §4.1: batch 32, 3 epochs, lr from {5e-5, 4e-5, 3e-5, 2e-5}, max_seq_len 128.
BERT-base reaches 93.5 % accuracy (GLUE test, BERT Table 1). TFDS: --config.tfds_name=glue/sst2.
"""

from bertlab.finetune_config import finetune_config


def get_config():
  c = finetune_config("sst2")
  c.optimizer.learning_rate = 2e-5     # BERT §4.1 grid
  c.num_epochs = 3.0                   # BERT §4.1
  return c
