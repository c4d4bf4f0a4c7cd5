"""Task heads converted from HF PyTorch models compute the same logits and losses.

For every family (BERT, ALBERT, RoBERTa, ELECTRA) and head (*ForSequenceClassification,
*ForTokenClassification, *ForQuestionAnswering), a small random HF model with every parameter
redrawn is converted by `convert.task_heads` and run on a right-padded batch.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers as T

from bertlab.convert import task_heads
from bertlab.tasks.models import LOSSES, TaskModel

SIZES = dict(vocab_size=97, hidden_size=24, num_hidden_layers=2, num_attention_heads=2,
             intermediate_size=40, max_position_embeddings=20, hidden_dropout_prob=0.0,
             attention_probs_dropout_prob=0.0)
CONFIGS = {
    "bert": (T.BertConfig, dict(type_vocab_size=2), "Bert"),
    "albert": (T.AlbertConfig, dict(embedding_size=16, classifier_dropout_prob=0.0), "Albert"),
    "roberta": (T.RobertaConfig, dict(type_vocab_size=1, max_position_embeddings=22), "Roberta"),
    "electra": (T.ElectraConfig, dict(embedding_size=16), "Electra"),
}
KINDS = {"classification": 3, "regression": 1, "token_classification": 5, "span": 2}
LENGTHS = (8, 5, 3)  # right padding to 8
TOL = 1e-5


def randomize(model, seed):
  gen = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, p in model.named_parameters():
      noise = torch.randn(p.shape, generator=gen)
      is_scale = "LayerNorm" in name and name.endswith("weight")
      p.copy_(1.0 + 0.2 * noise if is_scale else 0.3 * noise)
  return model.eval()


def make_batch(cfg, kind, num_labels):
  gen = torch.Generator().manual_seed(1)
  mask = torch.tensor([[1] * n + [0] * (8 - n) for n in LENGTHS])
  ids = torch.where(mask.bool(), torch.randint(3, cfg.vocab_size, (3, 8), generator=gen),
                    cfg.pad_token_id)
  types = torch.randint(0, cfg.type_vocab_size, (3, 8), generator=gen) * mask
  inputs = dict(input_ids=ids, attention_mask=mask, token_type_ids=types)
  if kind == "classification":
    labels = dict(labels=torch.tensor([2, 0, 1]))
  elif kind == "regression":
    labels = dict(labels=torch.tensor([0.5, -1.0, 2.0]))
  elif kind == "token_classification":
    tags = torch.randint(0, num_labels, (3, 8), generator=gen)
    labels = dict(labels=torch.where(mask.bool(), tags, -100))
  else:
    labels = dict(start_positions=torch.tensor([1, 2, 0]), end_positions=torch.tensor([3, 4, 0]))
  return inputs, labels


def ours_batch(inputs, labels, kind):
  batch = {k: jnp.asarray(v.numpy()) for k, v in inputs.items()}
  if kind in ("classification", "regression"):
    batch["label"] = jnp.asarray(labels["labels"].numpy())
  elif kind == "token_classification":
    batch["labels"] = jnp.asarray(labels["labels"].numpy())
  else:
    batch.update({k: jnp.asarray(v.numpy()) for k, v in labels.items()})
  return batch


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("family", list(CONFIGS))
def test_head_matches_hf(family, kind):
  config_cls, extra, prefix = CONFIGS[family]
  num_labels = KINDS[kind]
  cfg = config_cls(**{**SIZES, **extra}, num_labels=num_labels)
  cls = getattr(T, prefix + task_heads.HF_CLASSES[kind])
  hf_model = randomize(cls(cfg), seed=len(family) * 7 + num_labels)
  inputs, labels = make_batch(cfg, kind, num_labels)
  with torch.no_grad():
    out = hf_model(**inputs, **labels)
  state = {k: v.numpy() for k, v in hf_model.state_dict().items()}

  model, params, problems = task_heads.task_params_from_hf(cfg.to_dict(), state, kind)
  assert problems == [] and params["head"] is not None
  batch = ours_batch(inputs, labels, kind)

  @jax.jit
  def logits_and_loss(params, batch):
    logits = model.apply({"params": params}, batch["input_ids"], batch["attention_mask"],
                         batch["token_type_ids"], method=TaskModel.logits)
    return logits, LOSSES[kind](logits, batch)[0]  # TaskModel.__call__'s loss

  logits, loss = logits_and_loss(params, batch)
  if kind == "span":
    want = np.stack([out.start_logits.numpy(), out.end_logits.numpy()], -1)
  else:
    want = out.logits.numpy()
  if kind in ("token_classification", "span"):
    # Padded positions' outputs are never used (RoBERTa's HF model even gives them other
    # position ids); compare the real ones.
    real = inputs["attention_mask"].numpy().astype(bool)
    logits, want = np.asarray(logits)[real], want[real]
  np.testing.assert_allclose(np.asarray(logits), want, atol=TOL, rtol=0)
  want_loss = float(out.loss)
  if kind == "span":
    # Ours leaves padded positions out of the span softmax; HF's loss keeps them.
    pad = ~inputs["attention_mask"].bool()
    ce = lambda x, y: torch.nn.functional.cross_entropy(x.masked_fill(pad, -1e9), y)
    want_loss = float(ce(out.start_logits, labels["start_positions"])
                      + ce(out.end_logits, labels["end_positions"])) / 2
  np.testing.assert_allclose(float(loss), want_loss, atol=TOL, rtol=1e-6)

  # And back: our params give the HF checkpoint's tensors.
  back = task_heads.task_state_from_params(jax.device_get(params), model, family)
  for name, value in back.items():
    np.testing.assert_array_equal(value, state[name], err_msg=name)


def test_load_from_directory_with_other_class_count(tmp_path):
  """A saved checkpoint whose head has 3 classes, loaded for a 2-class task: fresh head."""
  cfg = T.ElectraConfig(**SIZES, embedding_size=16, num_labels=3)
  randomize(T.ElectraForSequenceClassification(cfg), 0).save_pretrained(tmp_path)
  model, params, problems = task_heads.load_task_model(str(tmp_path), "classification")
  assert model.num_labels == 3 and params["head"] is not None
  model, params, problems = task_heads.load_task_model(str(tmp_path), "classification", 2)
  assert params["head"] is None
  assert any("classifier.out_proj.weight" in p for p in problems)
