"""ELECTRA-Large (Clark et al. 2020, Table 6), pod-ready.

  python train.py --config configs/electra_large.py --workdir runs/electra_large
  python benchmarks/aot.py --config configs/electra_large.py --topology v5p:4x4x8 --mesh_shape=auto

Discriminator L 24, H 1024, A 16; generator 1/4 of its width; 25 % of tokens masked; batch 2048
at seq 512 for 400k steps, lr 2e-4. bf16 + remat (benchmarks/POD.md).
"""

from bertlab.training.config import pretrain_config


def get_config():
  c = pretrain_config("electra", model="electra-large", generator_fraction=1 / 4)  # Table 6
  c.batch_size = 2048                  # Table 6
  c.total_steps = 400_000              # Table 6 (ELECTRA-Large; 1.75M for the longer run)
  c.data.max_seq_len = 512             # Table 6
  c.objective.mask_prob = 0.25         # Table 6: mask percent 25 (large)
  c.objective.max_predictions = 130    # electra reference: int((0.25 + 0.005) * 512)
  c.optimizer.learning_rate = 2e-4     # Table 6
  c.optimizer.eps = 1e-6               # Table 6
  c.optimizer.weight_decay = 0.01      # Table 6
  c.optimizer.warmup_steps = 10_000    # Table 6
  for part in (c.model, c.generator):
    part.dtype = "bfloat16"            # TPU compute dtype; parameters stay float32
    part.remat = True                  # activations recomputed in the backward pass
  c.mesh_shape = (1, -1, 1)            # FSDP over every chip (benchmarks/POD.md)
  return c
