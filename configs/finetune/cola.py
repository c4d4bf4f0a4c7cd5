"""CoLA (GLUE): grammatical acceptability, 2 classes, scored by Matthews correlation.

  python finetune.py --config configs/finetune/cola.py --workdir runs/cola \
      --config.init_from=PATH --config.train_file=glue_data/CoLA/train.tsv \
      --config.eval_file=glue_data/CoLA/dev.tsv

The files have no header row (source, label, original label, sentence). BERT §4.1 recipe;
BERT-base reaches MCC 52.1 (GLUE test, BERT Table 1). TFDS: --config.tfds_name=glue/cola.
"""

from bertlab.finetune_config import finetune_config


def get_config():
  c = finetune_config("cola")
  c.optimizer.learning_rate = 2e-5     # BERT §4.1 grid
  c.num_epochs = 3.0                   # BERT §4.1
  return c
