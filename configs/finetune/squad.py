"""SQuAD v1.1: extractive QA, scored by exact match and F1 (0-100, the official script).

  python finetune.py --config configs/finetune/squad.py --workdir runs/squad \
      --config.init_from=PATH --config.train_file=squad/train-v1.1.json \
      --config.eval_file=squad/dev-v1.1.json

BERT §4.2: batch 32, 2 epochs, lr 5e-5, windows of 384 tokens with doc stride 128.
BERT-base reaches dev EM 80.8 / F1 88.5 (BERT Table 2). For v2.0 set --config.task=squad_v2.
TFDS: --config.tfds_name=squad/v1.1.
"""

from bertlab.finetune_config import finetune_config


def get_config():
  c = finetune_config("squad")
  c.optimizer.learning_rate = 5e-5     # BERT §4.2
  c.num_epochs = 2.0                   # BERT §4.2
  c.max_seq_len = 384                  # run_squad.py
  c.doc_stride = 128
  c.max_query_len = 64
  c.eval_batch_size = 32
  c.eval_every_steps = 1000
  return c
