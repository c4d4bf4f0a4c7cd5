"""benchmarks/inference.py and benchmarks/finetune_speed.py run end to end on tiny models and
data written here, and their outputs agree with the PyTorch side."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = ["the", "film", "was", "great", "dull", "paris", "is", "in", "france", "ada", "lives"]


def _run(script, *args):
  out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *args],
                       capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert out.returncode == 0, out.stderr[-3000:]
  return out.stdout


def test_inference_benchmark_outputs_agree(tmp_path):
  (tmp_path / "texts.tsv").write_text("sentence\tlabel\n" + "".join(
      " ".join(WORDS[(i + k) % len(WORDS)] for k in range(3 + i % 5)) + "\t0\n"
      for i in range(12)))
  out = tmp_path / "inf.json"
  text = _run("inference.py", "--texts", str(tmp_path / "texts.tsv"), "--n", "12", "--batch",
              "4", "--repeats", "1", "--tiny", "--json", str(out))
  r = json.loads(out.read_text())
  assert set(r["rows"]) == {"embed", "classify", "fill_mask"} and "speed-up" in text
  for row in r["rows"].values():
    assert row["max_abs_diff"] < 1e-4 and row["ours_texts_per_s"] > 0
  assert r["same_top5_ids"] == 1.0


def test_finetune_speed_runs_both_sides(tmp_path):
  tags = {"paris": "B-LOC", "france": "B-LOC", "ada": "B-PER"}
  for name, n in (("train.txt", 24), ("valid.txt", 8)):
    (tmp_path / name).write_text("".join(
        "".join(f"{w} X X {tags.get(w, 'O')}\n" for w in WORDS[i % 5:i % 5 + 4]) + "\n"
        for i in range(n)))
  out = tmp_path / "ft.json"
  _run("finetune_speed.py", "--conll", str(tmp_path), "--train", "24", "--eval", "8",
       "--epochs", "1", "--batch", "8", "--tiny", "--seeds", "0,1", "--json", str(out))
  r = json.loads(out.read_text())
  assert r["rows"]["bertlab"]["steps"] == r["rows"]["transformers"]["steps"] == 3
  assert [run["seed"] for run in r["runs"]] == [0, 1]
  for side in ("bertlab", "transformers"):
    row = r["rows"][side]
    assert len(row["entity_f1_per_seed"]) == 2
    assert row["entity_f1_mean"] == sum(row["entity_f1_per_seed"]) / 2
  assert all(0 <= row["entity_f1"] <= 1 and row["wall_s"] > 0 for row in r["rows"].values())
  for row in r["rows"].values():  # the breakdown adds up to the wall time
    parts = row["setup_s"] + row["compile_s"] + row["steps_s"] + row["eval_s"]
    assert abs(parts - row["wall_s"]) < 1e-6 and min(row["steps_s"], row["eval_s"]) > 0
  assert r["rows"]["bertlab"]["compile_s"] > 0 and r["rows"]["transformers"]["compile_s"] == 0
  assert r["rows"]["bertlab"]["train_shapes"] and r["rows"]["bertlab"]["train_tokens"] > 0
