"""ALBERT-xxlarge (Lan et al. 2020, Table 1 and §4.1), pod-ready.

  python train.py --config configs/albert_xxlarge.py --workdir runs/albert_xxlarge
  python benchmarks/aot.py --config configs/albert_xxlarge.py --topology v4:4x4x4 --mesh_shape=auto

L 12, H 4096, A 64, E 128, all layers share one set of weights; n-gram MLM + SOP; LAMB at batch
4096, lr 0.00176, 125k steps, seq 512. The paper trained on Cloud TPU v3 with 64 to 512 TPUs.
bf16 + remat: H 4096 activations at 4096 x 512 tokens a step (benchmarks/POD.md).
"""

from bertlab.training.config import pretrain_config


def get_config():
  c = pretrain_config("albert", model="albert-xxlarge")
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
  c.model.dtype = "bfloat16"           # TPU compute dtype; parameters stay float32
  c.model.remat = True                 # activations recomputed in the backward pass
  c.mesh_shape = (1, -1, 1)            # FSDP over every chip (benchmarks/POD.md)
  return c
