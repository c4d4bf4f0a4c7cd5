"""ALBERT-base (Lan et al. 2020, Table 1 and §4.1).

  python train.py --config configs/albert_base.py --workdir runs/albert_base

E = 128, all layers share one set of weights, MLM with whole-word n-grams (n <= 3) + SOP,
LAMB at batch 4096, lr 0.00176, 125k steps, seq 512, SentencePiece 30k.
"""

from bertlab.training.config import pretrain_config


def get_config():
  c = pretrain_config("albert", model="albert-base")
  c.batch_size = 4096                  # §4.1
  c.total_steps = 125_000              # §4.1
  c.data.max_seq_len = 512             # §4.1 (10 % shorter sequences)
  c.data.tokenizer = "sentencepiece"   # §4.1: SentencePiece, vocab 30k
  c.objective.masking = "ngram"        # §4.1: n-gram masking, n <= 3
  c.objective.max_predictions = 20     # ALBERT's create_pretraining_data default
  c.optimizer.name = "lamb"            # §4.1: LAMB, lr 0.00176
  c.optimizer.learning_rate = 0.00176
  c.optimizer.warmup_steps = 3_125     # albert run_pretraining default
  c.optimizer.weight_decay = 0.01
  return c
