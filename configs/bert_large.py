"""BERT-large pretraining (Devlin et al. 2019, §3.1 and Appendix A.2), pod-ready.

  python train.py --config configs/bert_large.py --workdir runs/bert_large \
      --config.data.corpus=/path/to/text/*.txt
  python benchmarks/aot.py --config configs/bert_large.py --topology v5e:16x16 --mesh_shape=auto

L 24, H 1024, A 16; MLM (15 %; 80/10/10) + NSP; batch 256 at seq 128 (A.2's first 90 % of
steps). The paper trained it on 16 Cloud TPUs (64 chips) for 4 days. bf16 compute (f32 master
weights), as TPUs run it; the plan in benchmarks/POD.md says where it fits.
"""

from bertlab.training.config import pretrain_config


def get_config():
  c = pretrain_config("bert", model="bert-large")
  c.batch_size = 256                   # A.2: 256 sequences
  c.total_steps = 1_000_000            # A.2: 1M steps (90 % at seq 128)
  c.data.max_seq_len = 128
  c.objective.max_predictions = 20     # create_pretraining_data.py at seq 128
  c.optimizer.learning_rate = 1e-4     # A.2: Adam, lr 1e-4, β1 0.9, β2 0.999
  c.optimizer.b2 = 0.999
  c.optimizer.weight_decay = 0.01      # A.2: L2 weight decay 0.01
  c.optimizer.warmup_steps = 10_000    # A.2: warmup over the first 10k steps, linear decay
  c.model.dtype = "bfloat16"           # TPU compute dtype; parameters stay float32
  c.mesh_shape = (1, -1, 1)            # FSDP over every chip (benchmarks/POD.md)
  return c
