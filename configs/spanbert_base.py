"""SpanBERT-base (Joshi et al. 2020, §4 and Appendix).

  python train.py --config configs/spanbert_base.py --workdir runs/spanbert_base

Single contiguous segments up to 512, geometric span masking over whole words
(p 0.2, clip 10, 15 %), MLM + SBO, no NSP, cased WordPiece.
"""

from bertlab.training.config import pretrain_config


def get_config():
  c = pretrain_config("spanbert", model="spanbert-base")
  c.batch_size = 256                   # §4: 256 sequences of 512
  c.total_steps = 2_400_000            # §4: 2.4M steps
  c.data.max_seq_len = 512
  c.data.lowercase = False             # cased WordPiece
  c.objective.masking = "span"
  c.objective.max_predictions = 80     # 15 % of 512
  c.optimizer.learning_rate = 1e-4     # §4: AdamW lr 1e-4, warmup 10k, linear decay
  c.optimizer.eps = 1e-8
  c.optimizer.warmup_steps = 10_000
  return c
