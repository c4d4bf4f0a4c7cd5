"""DistilBERT-style MLM distillation at CPU size: a 1-layer student of a tiny 2-layer BERT.

  python train.py --config configs/tiny/bert.py --workdir runs/tiny_bert
  python distill.py --config configs/distill/mlm_tiny.py --workdir runs/tiny_bert_student \
      --config.teacher=runs/tiny_bert

The teacher's corpus, masking and tokenizer are reused; the student starts from the
teacher's first layer (DistilBERT §3: every other layer) and ends as a pretraining workdir
in WORKDIR/student that finetune.py's --config.init_from reads. A few minutes on 2 cores.
"""

from bertlab.compress.distill_config import distill_config


def get_config():
  c = distill_config("mlm")
  c.student.num_layers = 1             # half the teacher's depth, as DistilBERT
  c.student.init = "teacher"
  # DistilBERT (Sanh et al. 2019, §3 and its training script): T = 2, alpha_ce 5.0 (soft
  # targets), alpha_mlm 2.0, alpha_cos 1.0 (here the hidden-state MSE stands in for the
  # cosine loss).
  c.loss.temperature = 2.0
  c.loss.alpha_kd, c.loss.alpha_hard, c.loss.alpha_hidden = 5.0, 2.0, 1.0
  c.batch_size = 16
  c.total_steps = 200
  c.optimizer.learning_rate = 5e-4     # DistilBERT
  c.optimizer.warmup_steps = 20
  c.log_every_steps = 20
  c.eval_every_steps = 100
  c.checkpoint_every_steps = 100
  c.eval_batches = 2
  return c
