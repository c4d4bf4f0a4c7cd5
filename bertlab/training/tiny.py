"""The CPU-sized variant of every family: trains in minutes on the built-in corpus."""

from bertlab.training.config import pretrain_config

TINY_MODEL = dict(hidden_size=128, num_layers=2, num_heads=2, intermediate_size=512,
                  vocab_size=4096, max_position_embeddings=128)


def tiny_config(family: str):
  """A small model of `family` with the family's objectives, tokenizer and masking."""
  preset = {"bert": "bert-tiny", "albert": "albert-base", "roberta": "roberta-base",
            "electra": "electra-small", "spanbert": "spanbert-base"}[family]
  c = pretrain_config(family, model=preset)
  for k, v in TINY_MODEL.items():
    c.model[k] = v
  if family == "roberta":
    c.model.max_position_embeddings = 130  # positions start at pad_token_id + 1 = 2
  if family in ("albert", "electra"):
    c.model.embedding_size = 64            # factorised embeddings, E < H
  if family == "electra":
    # Generator at 1/4 of the discriminator's width (ELECTRA Table 6), same embeddings.
    c.generator.update(dict(TINY_MODEL, hidden_size=32, intermediate_size=128, num_heads=1,
                            embedding_size=64))
  c.data.vocab_size = TINY_MODEL["vocab_size"]
  c.data.max_seq_len = 64
  c.objective.max_predictions = 10
  c.batch_size = 16
  c.total_steps = 200
  c.optimizer.learning_rate = 1e-3
  c.optimizer.warmup_steps = 20
  c.checkpoint_every_steps = 50
  c.log_every_steps = 10
  c.eval_every_steps = 50
  c.eval_batches = 2
  return c
