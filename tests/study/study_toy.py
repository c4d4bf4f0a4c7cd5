"""Helpers of the study tests: a toy study config and the small files it reads."""

import numpy as np

from bertlab.study import spec

WORDS = ("the a movie film plot actor scene story was is very quite rather good bad great "
         "awful fine dull long short funny sad music score end start").split()


def write_corpus(path, lines=300, seed=0):
  rng = np.random.default_rng(seed)
  docs = []
  for d in range(lines // 10):
    sents = [" ".join(rng.choice(WORDS, size=int(rng.integers(5, 12)))) + " ." for _ in range(10)]
    docs.append("\n".join(sents))
  path.write_text("\n\n".join(docs) + "\n")


def write_sst2(path, n=64, seed=0):
  """Sentences with one 'good' (label 1) or 'bad' (label 0) among filler words."""
  rng = np.random.default_rng(seed)
  filler = ["the", "movie", "was", "very", "a", "film", "plot", "story", "is", "long"]
  lines = ["sentence\tlabel"]
  for _ in range(n):
    label = int(rng.integers(2))
    words = list(rng.choice(filler, size=int(rng.integers(3, 7))))
    words.insert(int(rng.integers(len(words) + 1)), "good" if label else "bad")
    lines.append(" ".join(words) + f"\t{label}")
  path.write_text("\n".join(lines) + "\n")


def toy_study(tmp, task_config, budget_steps=8):
  """The study config of the tests: bert and electra arms at H 32, L 1, seq 32."""
  corpus, train = tmp / "corpus.txt", tmp / "sst2.tsv"
  if not corpus.exists():
    write_corpus(corpus)
    write_sst2(train)
  c = spec.study_config()
  c.encoder.update(dict(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64,
                        vocab_size=128, max_seq_len=32))
  c.corpus = str(corpus)
  c.arms.bert = dict(family="bert")
  c.arms.electra = dict(family="electra")
  p = c.pretrain
  p.batch_size, p.max_predictions, p.learning_rate = 8, 5, 2e-3
  p.fractions, p.seeds, p.log_every_steps, p.eval_batches = (0.5, 1.0), (0,), 2, 1
  # bert's step is the dearer one here (its MLM head reads 40 positions; ELECTRA's generator
  # is 8 wide): the budget buys bert `budget_steps` steps and electra more.
  from bertlab.study import plan as plan_lib
  c.pretrain.budget_flops = 1e20
  per_step = plan_lib.arm_plans(c)["bert"].flops_per_step
  p.budget_flops = per_step * budget_steps + 1
  c.finetune.update(dict(seeds=(0,), learning_rate=5e-3, batch_size=8, num_epochs=3.0,
                         max_seq_len=24))
  c.tasks.sst2 = dict(config=str(task_config),
                      overrides=dict(train_file=str(train), holdout_fraction=0.25,
                                     eval_batch_size=16))
  return c
