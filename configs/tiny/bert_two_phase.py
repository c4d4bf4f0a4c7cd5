"""A tiny bert through BERT's two-phase recipe (A.2: 90 % of the steps at the short length,
10 % at the long one), scaled down: 180 steps at seq 64 (10 predictions), 20 at seq 128 (20).

  python train.py --config configs/tiny/bert_two_phase.py --workdir runs/tiny_bert_two_phase

Each phase builds its own instances and compiles its own step; killed in either phase, the
same command resumes in that phase.
"""

from bertlab.training.tiny import tiny_config


def get_config():
  c = tiny_config("bert")
  c.phases.fraction = (0.9, 0.1)        # BERT A.2
  c.phases.max_seq_len = (64, 128)      # BERT: 128, 512
  c.phases.max_predictions = (10, 20)   # BERT: 20, 80
  return c
