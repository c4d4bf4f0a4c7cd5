import pytest

from bertlab.training.tiny import tiny_config


def small(family: str, workdir: str, tokenizer_dir: str, **overrides):
  """A tiny config shrunk further for tests: a few steps of batch 8 at seq 32."""
  c = tiny_config(family)
  c.data.max_seq_len = 32
  c.data.tokenizer_dir = tokenizer_dir
  c.data.vocab_size = 1000
  c.model.vocab_size = 1000
  if family == "electra":
    c.generator.vocab_size = 1000
  c.model.hidden_size, c.model.intermediate_size = 64, 128
  c.objective.max_predictions = 6
  c.batch_size = 8
  c.total_steps = 30
  c.optimizer.warmup_steps = 5
  c.log_every_steps = 5
  c.checkpoint_every_steps = 10
  c.eval_every_steps = 30
  c.eval_batches = 1
  c.progress_bar = False
  c.data.cache_dir = ""
  for k, v in overrides.items():
    node, *rest = k.split(".")
    target = c
    for part in k.split(".")[:-1]:
      target = target[part]
    target[k.split(".")[-1]] = v
    del node, rest
  return c


@pytest.fixture
def small_config():
  return small
