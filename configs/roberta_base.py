"""RoBERTa-base (Liu et al. 2019, Table 9 and §4).

  python train.py --config configs/roberta_base.py --workdir runs/roberta_base

Dynamic masking, no NSP, FULL-SENTENCES packing to 512, byte-level BPE 50k.
"""

from bertlab.training.config import pretrain_config


def get_config():
  c = pretrain_config("roberta", model="roberta-base")
  c.batch_size = 8192                  # Table 9: 8k
  c.total_steps = 500_000              # Table 9: 500k
  c.data.max_seq_len = 512             # §4.2: full sentences up to 512 tokens
  c.data.tokenizer = "bpe"             # §4.4: byte-level BPE, 50k
  c.data.dynamic_masking = True        # §4.1
  c.objective.max_predictions = 80     # ~ 15 % of 512
  c.optimizer.learning_rate = 6e-4     # Table 9: peak lr 6e-4
  c.optimizer.b2 = 0.98                # Table 9: β2 0.98
  c.optimizer.eps = 1e-6               # Table 9: ε 1e-6
  c.optimizer.weight_decay = 0.01      # Table 9
  c.optimizer.warmup_steps = 24_000    # Table 9: 24k
  # XLA's memory analysis at 32 x 512 per chip: 25.5 GiB of temporaries in float32 without
  # remat, 3.7 GiB with bf16 + remat (issue 17); TPUs compute in bf16 anyway.
  c.model.dtype = "bfloat16"           # parameters stay float32
  c.model.remat = True                 # activations recomputed in the backward pass
  return c
