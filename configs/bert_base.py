"""BERT-base pretraining (Devlin et al. 2019, §3.1 and Appendix A.2).

  python train.py --config configs/bert_base.py --workdir runs/bert_base \
      --config.data.corpus=/path/to/text/*.txt

MLM (15 %; 80/10/10) + NSP on sentence pairs; two phases as A.2: 90 % of the steps at seq 128
(20 predictions per sequence), the last 10 % at seq 512 (80). One run moves through both and
resumes in either.
"""

from bertlab.training.config import pretrain_config


def get_config():
  c = pretrain_config("bert", model="bert-base")
  c.batch_size = 256                   # A.2: 256 sequences
  c.total_steps = 1_000_000            # A.2: 1M steps (90 % at seq 128)
  c.data.max_seq_len = 128
  c.objective.max_predictions = 20     # create_pretraining_data.py at seq 128
  c.phases.fraction = (0.9, 0.1)       # A.2: 90 % of the steps at 128, the rest at 512
  c.phases.max_seq_len = (128, 512)
  c.phases.max_predictions = (20, 80)  # create_pretraining_data.py: 20 at 128, 80 at 512
  c.optimizer.learning_rate = 1e-4     # A.2: Adam, lr 1e-4, β1 0.9, β2 0.999
  c.optimizer.b2 = 0.999
  c.optimizer.weight_decay = 0.01      # A.2: L2 weight decay 0.01
  c.optimizer.warmup_steps = 10_000    # A.2: warmup over the first 10k steps, linear decay
  return c
