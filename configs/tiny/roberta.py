"""A tiny roberta (L 2, H 128) for a CPU: the family's objectives on the built-in default corpus.

  python train.py --config configs/tiny/roberta.py --workdir runs/tiny_roberta

200 steps of batch 16 at seq 64 train in a few minutes on 2 cores.
"""

from bertlab.training.tiny import tiny_config


def get_config():
  return tiny_config("roberta")
