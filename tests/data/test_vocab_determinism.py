"""The same corpus and options give the same WordPiece vocabulary in every fresh process.

Hugging Face's trainer ranks equal-count merges by ids drawn from a per-process random hash
order; without the fix, three fresh processes gave three different vocab.txt files for this
very corpus and size."""

import os
import subprocess
import sys

from datahelpers import corpus_text

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_two_fresh_processes_train_identical_vocab_files(tmp_path):
  corpus = tmp_path / "c.txt"
  corpus.write_text(corpus_text(seed=3, docs=150), encoding="utf-8")
  outs = []
  for i in range(3):
    out = tmp_path / f"tok{i}"
    r = subprocess.run([sys.executable, "-m", "bertlab.data.tokenizer_training", "train",
                        "--kind", "wordpiece", "--vocab-size", "400", "--out", str(out),
                        str(corpus)], env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    outs.append((out / "vocab.txt").read_text(encoding="utf-8"))
  vocab = outs[0].splitlines()
  assert len(vocab) == 400 and vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
  assert outs[1] == outs[0] and outs[2] == outs[0]
