"""End-to-end fine-tuning on tiny files, init_from loading, config errors, and lr decay.

Models are tiny (H 32, 2 layers) and files have tens of lines, so each run takes seconds.
"""

import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import transformers as T

from bertlab import finetune, finetune_init
from bertlab.finetune_config import finetune_config, validate
from bertlab.training import lr_decay
# A wider init than BERT's 0.02 gives the random "pretrained" encoder distinct token states,
# so the tiny runs learn within tens of steps.
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=64, initializer_range=0.2)


@pytest.fixture(scope="module")
def vocab(tokenizer):
  """The tokens of the shared test tokenizer (conftest.py), in id order."""
  ids = tokenizer.get_vocab()
  return sorted(ids, key=ids.get)


@pytest.fixture(scope="module")
def hf_bert(tmp_path_factory, vocab):
  """A random tiny HF BERT with the shared test vocabulary as vocab.txt."""
  path = tmp_path_factory.mktemp("hf_bert")
  T.BertModel(T.BertConfig(vocab_size=len(vocab), **TINY)).save_pretrained(path)
  (path / "vocab.txt").write_text("".join(t + "\n" for t in vocab))
  return str(path)


def sst2_lines(n, seed):
  """Sentences of filler words with one 'good' (positive) or 'bad' (negative) in them."""
  rng = np.random.default_rng(seed)
  filler = ["the", "movie", "was", "very", "a", "game", "team", "it", "is", "not"]
  lines = ["sentence\tlabel"]
  for _ in range(n):
    label = int(rng.integers(2))
    words = list(rng.choice(filler, size=int(rng.integers(3, 7))))
    words.insert(int(rng.integers(len(words) + 1)), "good" if label else "bad")
    lines.append(" ".join(words) + f"\t{label}")
  return "\n".join(lines) + "\n"


def config_for(task, init_from, train, dev, **overrides):
  c = finetune_config(task)
  c.init_from, c.train_file, c.eval_file = init_from, str(train), str(dev)
  c.max_seq_len, c.batch_size, c.eval_batch_size = 24, 16, 16
  c.optimizer.learning_rate, c.log_every_steps, c.save_checkpoint = 3e-3, 1000, False
  for k, v in overrides.items():
    c[k] = v
  validate(c)
  return c


def test_sst2_learns_the_keyword_with_two_seeds(hf_bert, tmp_path):
  (tmp_path / "train.tsv").write_text(sst2_lines(64, 0))
  (tmp_path / "dev.tsv").write_text(sst2_lines(32, 1))
  c = config_for("sst2", hf_bert, tmp_path / "train.tsv", tmp_path / "dev.tsv",
                 num_epochs=20.0, seeds=(0, 1), layerwise_lr_decay=0.9, save_checkpoint=True)
  out = tmp_path / "run"
  result = finetune.run(c, str(out), echo=lambda *_: None)
  assert set(result) == {"accuracy"} and result["accuracy"] >= 0.9
  assert json.loads((out / "eval_results.json").read_text()) == result
  seeds = json.loads((out / "eval_results_seeds.json").read_text())["seeds"]
  assert set(seeds) == {"0", "1"}
  assert result["accuracy"] == np.median([s["accuracy"] for s in seeds.values()])
  rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
  assert len(rows) == 32 and rows[0]["prediction"] in ("negative", "positive")
  assert (out / "seed_1" / "checkpoint").is_dir()


CONLL = """john B-PER
smith I-PER
lives O
in O
paris B-LOC

the O
team O
visited O
new B-LOC
york I-LOC
city I-LOC

"""


def test_conll_end_to_end_writes_entity_f1(hf_bert, tmp_path):
  (tmp_path / "train.txt").write_text(CONLL * 8)
  (tmp_path / "dev.txt").write_text(CONLL)
  c = config_for("conll2003", hf_bert, tmp_path / "train.txt", tmp_path / "dev.txt",
                 total_steps=6, num_train_examples=10)
  result = finetune.run(c, str(tmp_path / "run"), echo=lambda *_: None)
  assert set(result) == {"entity_f1", "entity_precision", "entity_recall"}
  lines = (tmp_path / "run" / "predictions.conll").read_text().splitlines()
  assert lines[0].split()[:2] == ["john", "B-PER"] and len(lines[0].split()) == 3


def squad_json(n):
  context = "denver broncos won the super bowl at levi stadium in santa clara california ."
  qas = [{"id": f"q{i}", "question": q, "answers": [{"text": a, "answer_start": context.index(a)}]}
         for i, (q, a) in enumerate([("who won the super bowl ?", "denver broncos"),
                                     ("where was the game ?", "levi stadium")] * n)]
  return json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
      {"context": context, "qas": qas}]}]})


def test_squad_end_to_end_writes_em_and_f1(hf_bert, tmp_path):
  (tmp_path / "train.json").write_text(squad_json(4))
  (tmp_path / "dev.json").write_text(squad_json(1))
  c = config_for("squad", hf_bert, tmp_path / "train.json", tmp_path / "dev.json",
                 total_steps=4, doc_stride=8, max_query_len=8)
  result = finetune.run(c, str(tmp_path / "run"), echo=lambda *_: None)
  assert {"exact_match", "f1"} <= set(result) and 0 <= result["f1"] <= 100
  answers = json.loads((tmp_path / "run" / "predictions.json").read_text())
  assert set(answers) == {"q0", "q1"}


def test_label_out_of_range_is_a_clear_error(hf_bert, tmp_path):
  (tmp_path / "train.tsv").write_text("sentence\tlabel\ngood movie\t1\nbad movie\t2\n")
  c = config_for("sst2", hf_bert, tmp_path / "train.tsv", tmp_path / "train.tsv")
  with pytest.raises(ValueError, match=r"train.tsv:3: expected a sst2 label .* found '2'"):
    finetune.run(c, str(tmp_path / "run"), echo=lambda *_: None)


def test_missing_train_file_is_a_clear_error(hf_bert, tmp_path):
  c = config_for("sst2", hf_bert, tmp_path / "nope.tsv", tmp_path / "nope.tsv")
  with pytest.raises(FileNotFoundError, match=r"config.train_file: .*nope.tsv' does not exist; "
                     r"expected a GLUE TSV file"):
    finetune.run(c, str(tmp_path / "run"), echo=lambda *_: None)


def test_unknown_config_key_names_the_nearest():
  c = finetune_config("sst2")
  c.init_from = "x"
  c.optimizer.learnig_rate = 1e-4
  with pytest.raises(ValueError, match="did you mean 'optimizer.learning_rate'"):
    validate(c)
  with pytest.raises(SystemExit, match="did you mean 'num_train_examples'"):
    finetune.main(["finetune.py", "--config=configs/finetune/sst2.py", "--workdir=/tmp/x",
                   "--config.num_train_exemples=5"])


@pytest.mark.parametrize("key,value,msg", [
    ("batch_size", 0, r"config.batch_size: expected positive batch sizes; found 0\."),
    ("holdout_fraction", 1.5, r"config.holdout_fraction: expected a fraction in \[0, 1\); found 1.5"),
    ("dtype", "float64", r"config.dtype: expected one of .*; found 'float64'"),
])
def test_a_value_out_of_range_is_named_with_what_was_found(key, value, msg):
  c = finetune_config("sst2")
  c.init_from = "x"
  c[key] = value
  with pytest.raises(ValueError, match=msg):
    validate(c)


def test_lr_decay_multipliers_by_hand():
  """L = 2, d = 0.5: embeddings d^4, layer 0 d^3, layer 1 d^2, pooler d, head 1."""
  p = lambda *s: jnp.ones(s)
  params = {"encoder": {"embeddings": {"word": {"embedding": p(5, 4)}},
                        "projection": {"kernel": p(4, 4)},
                        "stack": {"layers": {"mlp": {"wi": {"kernel": p(2, 4, 8)}}}},
                        "pooler": {"dense": {"bias": p(4)}}},
            "head": {"out": {"kernel": p(4, 3)}}}
  m = lr_decay.multipliers(params, num_layers=2, decay=0.5)
  assert m["encoder"]["embeddings"]["word"]["embedding"] == 0.0625
  assert m["encoder"]["projection"]["kernel"] == 0.0625
  np.testing.assert_array_equal(m["encoder"]["stack"]["layers"]["mlp"]["wi"]["kernel"][:, 0, 0],
                                [0.125, 0.25])
  assert m["encoder"]["pooler"]["dense"]["bias"] == 0.5 and m["head"]["out"]["kernel"] == 1.0
  # ALBERT-style sharing (one group for both layers): the mean of the two layers' rates.
  shared = {"encoder": {"stack": {"layers": {"wi": p(1, 4)}}}}
  np.testing.assert_allclose(lr_decay.multipliers(shared, 2, 0.5)["encoder"]["stack"]["layers"]
                             ["wi"], [[0.1875]])
  # As a transform: updates are scaled per slice of the stacked axis.
  tx = lr_decay.scale_by_depth(2, 0.5)
  updates, _ = tx.update(params, tx.init(params))
  np.testing.assert_array_equal(updates["encoder"]["stack"]["layers"]["mlp"]["wi"]["kernel"][1],
                                np.full((4, 8), 0.25))


def test_init_from_electra_workdir_restores_the_discriminator(tmp_path, vocab):
  """A pretraining checkpoint as bertlab/training writes it -> the encoder to fine-tune."""
  from bertlab.data.tokenizers import Tokenizer
  from bertlab.objectives.registry import build_model
  from bertlab.objectives.pretraining import zeros_like_batch
  from bertlab.training import config as train_config
  from bertlab.training import optimizers
  from bertlab.training.checkpoint import Checkpointer
  from bertlab.training.state import TrainState
  from bertlab.training.tiny import tiny_config

  c = tiny_config("electra")
  c.model.update(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_layers=2)
  c.generator.update(vocab_size=len(vocab), num_layers=2)
  (tmp_path / "config.json").write_text(c.to_json_best_effort())
  model = build_model("electra", train_config.encoder_config(c.model, "model"),
                      train_config.encoder_config(c.generator, "generator"))
  # Shapes from an abstract init, values drawn here: an eager init of ELECTRA takes seconds.
  abstract = jax.eval_shape(lambda: nn.unbox(model.init(
      {"params": jax.random.key(0), "sampling": jax.random.key(1)},
      zeros_like_batch(2, 8, 2))["params"]))
  rng = np.random.default_rng(0)
  params = jax.tree_util.tree_map(
      lambda s: jnp.asarray(rng.normal(size=s.shape).astype(np.float32)), abstract)
  tx, _ = optimizers.build(c.optimizer, 10)
  state = TrainState(jnp.zeros((), jnp.int32), params, tx.init(params),
                     jax.random.key_data(jax.random.key(0)))
  ckpt = Checkpointer(str(tmp_path / "checkpoints"), async_save=False)
  ckpt.save(7, state, {"iterator": {}}, force=True)
  ckpt.close()
  (tmp_path / "vocab.txt").write_text("".join(t + "\n" for t in vocab))
  Tokenizer.load(str(tmp_path)).save(str(tmp_path / "cache" / "tokenizer-wordpiece-abc"))
  os.remove(tmp_path / "vocab.txt")

  pre = finetune_init.load_pretrained(str(tmp_path), "classification", 2)
  assert pre.family == "electra" and "step 7" in pre.source
  assert pre.tokenizer_dir.endswith("tokenizer-wordpiece-abc")
  enc = pre.params["encoder"]
  assert set(enc) == {"embeddings", "projection", "stack"}
  np.testing.assert_array_equal(enc["embeddings"]["word"]["embedding"],
                                params["embeddings"]["word"]["embedding"])
  np.testing.assert_array_equal(enc["stack"]["layers"]["mlp"]["wi"]["kernel"],
                                params["discriminator"]["stack"]["layers"]["mlp"]["wi"]["kernel"])


def test_tfds_source_and_holdout(hf_bert, tokenizer):
  """tfds_name reads TFDS `glue/sst2` (mock data here); holdout_fraction splits train."""
  import tensorflow_datasets as tfds

  c = finetune_config("sst2")
  c.init_from, c.tfds_name, c.max_seq_len = hf_bert, "glue/sst2", 24
  with tfds.testing.mock_data(num_examples=8):
    info, train, dev = finetune.load_data(c, tokenizer, "[PAD]")
    assert info.kind == "classification" and len(train) == 8 and len(dev) == 8
    c.holdout_fraction, c.num_train_examples = 0.25, 5
    validate(c)
    _, train, dev = finetune.load_data(c, tokenizer, "[PAD]")
  assert len(train) == 5 and len(dev) == 2
  assert {e.guid for e in train.examples}.isdisjoint(e.guid for e in dev.examples)
