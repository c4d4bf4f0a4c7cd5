"""RoBERTa-large (Liu et al. 2019, Table 9 and §4), pod-ready.

  python train.py --config configs/roberta_large.py --workdir runs/roberta_large
  python benchmarks/aot.py --config configs/roberta_large.py --topology v5e:16x16 --mesh_shape=auto

L 24, H 1024, A 16; dynamic masking, no NSP, FULL-SENTENCES packing to 512, byte-level BPE 50k,
batch 8k for 500k steps. The paper: 1024 V100 GPUs for about one day per 100k steps (§5).
bf16 + remat: 8k x 512 tokens a step only fit with the activations recomputed (benchmarks/POD.md);
where a slice has too few chips, raise grad_accum_steps (the update stays that of 8k sequences).
"""

from bertlab.training.config import pretrain_config


def get_config():
  c = pretrain_config("roberta", model="roberta-large")
  c.batch_size = 8192                  # Table 9: 8k
  c.total_steps = 500_000              # Table 9: 500k
  c.data.max_seq_len = 512             # §4.2: full sentences up to 512 tokens
  c.data.tokenizer = "bpe"             # §4.4: byte-level BPE, 50k
  c.data.dynamic_masking = True        # §4.1
  c.objective.max_predictions = 80     # ~ 15 % of 512
  c.optimizer.learning_rate = 4e-4     # Table 9: peak lr 4e-4 (large)
  c.optimizer.b2 = 0.98                # Table 9: β2 0.98
  c.optimizer.eps = 1e-6               # Table 9: ε 1e-6
  c.optimizer.weight_decay = 0.01      # Table 9
  c.optimizer.warmup_steps = 30_000    # Table 9: 30k (large)
  c.model.dtype = "bfloat16"           # TPU compute dtype; parameters stay float32
  c.model.remat = True                 # activations recomputed in the backward pass
  c.mesh_shape = (1, -1, 1)            # FSDP over every chip (benchmarks/POD.md)
  return c
