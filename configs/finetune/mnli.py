"""MNLI (GLUE): entailment / neutral / contradiction, scored by accuracy.

  python finetune.py --config configs/finetune/mnli.py --workdir runs/mnli \
      --config.init_from=PATH --config.train_file=glue_data/MNLI/train.tsv \
      --config.eval_file=glue_data/MNLI/dev_matched.tsv

BERT §4.1 recipe; BERT-base reaches 84.6 % matched (GLUE test, BERT Table 1).
TFDS: --config.tfds_name=glue/mnli (eval_split validation_matched, as set here).
"""

from bertlab.finetune_config import finetune_config


def get_config():
  c = finetune_config("mnli")
  c.optimizer.learning_rate = 2e-5     # BERT §4.1 grid
  c.num_epochs = 3.0                   # BERT §4.1
  c.eval_split = "validation_matched"  # TFDS split name of dev_matched.tsv
  c.eval_every_steps = 2000            # an epoch is ~12k steps
  return c
