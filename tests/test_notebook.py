"""The notebook surface (`bertlab.load` and its helpers) and the example notebook, run end to
end with nbclient on the tiny models it makes itself."""

import json
import os
import sys

import numpy as np
import pytest
import transformers as T

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "convert"))
from tiny_models import fake_pretraining_run, hf_models, save_hf  # noqa: E402

import bertlab  # noqa: E402
from bertlab.convert.bundle import flatten, param_shapes, unflatten  # noqa: E402
from bertlab.convert.task_heads import task_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path, monkeypatch):
  nbformat = pytest.importorskip("nbformat")
  nbclient = pytest.importorskip("nbclient")
  nb = nbformat.read(os.path.join(ROOT, "examples", "quickstart.ipynb"), as_version=4)
  for key in [k for k in os.environ if k.startswith("BERTLAB_")]:
    monkeypatch.delenv(key)  # the notebook makes its own tiny models
  nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                          resources={"metadata": {"path": str(tmp_path)}}).execute()
  outputs = {i: "".join(o.get("text", "") + json.dumps(o.get("data", {})) for o in c.outputs)
             for i, c in enumerate(nb.cells) if c.cell_type == "code"}
  text = "\n".join(outputs.values())
  assert "BertForPreTraining" in text and "'label':" in text and "params.safetensors" in text
  assert "'answer':" in text and "'score':" in text


def test_helpers_batch_without_changing_results(tmp_path):
  """A text encodes alike alone or in a padded batch; embed pools encode; fill_mask ranks
  RoBERTa's <mask> as transformers does, with the same ids."""
  models = hf_models("roberta")
  save_hf(models, tmp_path / "hf", "safetensors", "roberta")
  m = bertlab.load(str(tmp_path / "hf"), batch_size=2)
  texts = ["the cat sat", "paris is the capital of france .", "a dog"]
  out = m.encode(texts)
  for i, t in enumerate(texts):
    alone = m.encode([t])
    n = alone["mask"].sum()
    np.testing.assert_allclose(out["hidden"][i, :n], alone["hidden"][0], atol=1e-5)
  w = out["mask"][..., None]
  np.testing.assert_allclose(m.embed(texts), (out["hidden"] * w).sum(1) / w.sum(1), atol=1e-6)
  np.testing.assert_array_equal(m.embed(texts, pooling="cls"), out["hidden"][:, 0])

  text = "the cat <mask> on the mat ."
  guesses = m.fill_mask(text, top_k=4)
  m.to_hf(str(tmp_path / "export"))  # its tokenizer_config.json lets <mask> take the space
  hf_tok = T.AutoTokenizer.from_pretrained(tmp_path / "export")
  enc = hf_tok(text, return_tensors="pt")
  logits = models[""](**enc).logits[0, enc["input_ids"][0].tolist().index(hf_tok.mask_token_id)]
  probs = logits.softmax(-1).detach().numpy()
  assert [g["id"] for g in guesses] == list(np.argsort(-probs)[:4])
  np.testing.assert_allclose([g["score"] for g in guesses], np.sort(probs)[::-1][:4], atol=1e-5)
  with pytest.raises(ValueError, match="expected '<mask>'"):
    m.fill_mask("no mask here")


def test_classify_a_finetuning_workdir(tmp_path):
  """Our fine-tuning run (MNLI-shaped, from our pretraining run) classifies pairs as its
  transformers export does."""
  import orbax.checkpoint as ocp

  pre, _ = fake_pretraining_run(tmp_path / "pre", "bert")
  clf = task_model(pre.config, "bert", "classification", 3)
  rng = np.random.default_rng(0)
  params = unflatten({k: rng.normal(0, 0.1, x.shape).astype(np.float32)
                      for k, x in flatten(param_shapes(clf)).items()})
  run = tmp_path / "ft"
  (run / "seed_0").mkdir(parents=True)
  (run / "config.json").write_text(json.dumps({"task": "mnli", "init_from": str(tmp_path / "pre"),
                                                "classifier_dropout": 0.1}))
  ocp.PyTreeCheckpointer().save(str((run / "seed_0" / "checkpoint").absolute()), params)

  m = bertlab.load(str(run))
  assert m.kind == "classification" and len(m.labels) == 3
  a, b = ["the cat sat on the mat .", "a dog"], ["a dog ran", "paris is the capital"]
  got = m.classify(a, b)
  m.to_hf(str(tmp_path / "hf"))
  hf = T.BertForSequenceClassification.from_pretrained(tmp_path / "hf").eval()
  enc = T.AutoTokenizer.from_pretrained(tmp_path / "hf")(a, b, padding=True, return_tensors="pt")
  probs = hf(**enc).logits.softmax(-1).detach().numpy()
  assert [g["label"] for g in got] == [hf.config.id2label[int(k)] for k in probs.argmax(1)]
  np.testing.assert_allclose([g["score"] for g in got], probs.max(1), atol=1e-5)
  with pytest.raises(ValueError, match="classify needs a fine-tuned sequence classifier"):
    bertlab.load(str(tmp_path / "pre")).classify(["x"])


def test_tokenizer_files_as_the_hub_ships_them(tmp_path):
  """albert-base-v2 ships spiece.model beside a Unigram tokenizer.json; the casing of a bare
  vocab.txt is in tokenizer_config.json."""
  from bertlab.data.tokenizers import Tokenizer
  from bertlab.notebook import load_tokenizer
  from bertlab.tasks.text_tokenizer import load_text_tokenizer
  from tiny_models import tokenizer

  sp = tokenizer("albert")
  sp.save(str(tmp_path / "albert"))
  unigram, _ = load_text_tokenizer(str(tmp_path / "albert"))
  (tmp_path / "albert" / "bertlab_tokenizer.json").unlink()
  unigram.save(str(tmp_path / "albert" / "tokenizer.json"))
  text = "The Cat sat on the mat."
  assert load_tokenizer(str(tmp_path / "albert")).encode(text)[0].tolist() == (
      sp.encode(text)[0].tolist())

  tokenizer("spanbert").save(str(tmp_path / "wp"))  # a cased vocabulary, read as uncased
  (tmp_path / "wp" / "bertlab_tokenizer.json").unlink()
  (tmp_path / "wp" / "tokenizer_config.json").write_text('{"do_lower_case": true}')
  uncased = Tokenizer.from_files("wordpiece", str(tmp_path / "wp" / "vocab.txt"), lowercase=True)
  ids = load_tokenizer(str(tmp_path / "wp")).encode(text)[0].tolist()
  assert ids == uncased.encode(text)[0].tolist() != tokenizer("spanbert").encode(text)[0].tolist()
