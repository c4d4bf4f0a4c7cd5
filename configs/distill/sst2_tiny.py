"""Task distillation on SST-2 at CPU size: a 1-layer student of a fine-tuned 2-layer tiny BERT.

  python distill.py --config configs/distill/sst2_tiny.py --workdir runs/sst2_student \
      --config.teacher=runs/sst2

The teacher is a finetune.py workdir: its training data, held-out dev split and tokenizer are
reused. The student starts from the teacher's embeddings, first layer and head (DistilBERT
§3) and learns from soft targets at T = 2 mixed with the labels. Measured (2 CPU cores,
2.5 min): with the tiny BERT of configs/tiny/bert.py fine-tuned on 20k SST-2 examples (dev:
2 % of train held out, 1347 examples) as teacher at 0.802 accuracy, the student reaches
0.812 at 1.9x the speed (the same student on the labels alone: 0.826; one standard error
is 0.011). benchmarks/compress_cost.py compares it with the other compressions.
"""

from bertlab.compress.distill_config import distill_config


def get_config():
  c = distill_config("task")
  c.student.num_layers = 1             # half the teacher's depth
  c.student.init = "teacher"           # DistilBERT §3: one teacher layer out of two
  # Hinton et al. 2015: soft targets at a raised temperature, most of the weight on them.
  c.loss.temperature = 2.0
  c.loss.alpha_kd, c.loss.alpha_hard, c.loss.alpha_hidden = 0.8, 0.2, 0.0
  c.batch_size = 32                    # as the teacher's fine-tuning (BERT §4.1)
  c.total_steps = 1250                 # 2 epochs of 20k examples
  c.optimizer.learning_rate = 2e-4
  c.optimizer.warmup_steps = 125       # 10 %, as fine-tuning
  c.log_every_steps = 125
  c.eval_every_steps = 625
  c.checkpoint_every_steps = 625
  c.eval_batches = 42                  # the whole dev split in batches of 32
  return c
