"""DistilBERT (Sanh et al. 2019): a 6-layer student from every other layer of a 12-layer BERT.

  python distill.py --config configs/distill/distilbert.py --workdir runs/distilbert \
      --config.teacher=runs/bert_base

The teacher is a train.py workdir (its corpus, masking and tokenizer are reused). The paper
trains 90 hours on 8 V100s at batch 4K with dynamic masking and no NSP; this config is its
hyperparameter table at batch 256 (raise batch_size where memory allows). Not run here.
"""

from bertlab.compress.distill_config import distill_config


def get_config():
  c = distill_config("mlm")
  c.student.num_layers = 6             # DistilBERT §3: half the layers, same widths
  c.student.init = "teacher"           # §3: one layer out of two
  c.loss.temperature = 2.0             # the released script's README command, as the alphas
  c.loss.alpha_kd = 5.0                # alpha_ce
  c.loss.alpha_hard = 2.0              # alpha_mlm
  c.loss.alpha_hidden = 1.0            # alpha_cos (cosine there; MSE here)
  c.batch_size = 256
  c.total_steps = 100_000              # the paper ran 3 epochs of BERT's corpus: set for yours
  c.optimizer.learning_rate = 5e-4     # script default
  c.optimizer.warmup_steps = 5_000     # script: warmup_prop 0.05
  c.optimizer.clip_norm = 5.0          # script's max_grad_norm
  c.optimizer.weight_decay = 0.0
  c.log_every_steps = 100
  c.eval_every_steps = 5000
  c.checkpoint_every_steps = 5000
  return c
