import numpy as np
import pytest
import tensorflow_datasets as tfds

from bertlab.tasks.glue import TASKS, TextExample, get_task, read_glue_tfds, read_glue_tsv
from bertlab.tasks.metrics import METRICS


def write(tmp_path, name, lines, prefix=""):
  path = tmp_path / name
  path.write_text(prefix + "\n".join("\t".join(row) for row in lines) + "\n", encoding="utf-8")
  return path


def test_sst2_header_and_int_labels(tmp_path):
  # SST-2 sentences hold bare quotes: no quote handling may swallow the tab.
  path = write(tmp_path, "train.tsv", [["sentence", "label"], ['a "great movie ', "1"],
                                       ["dull", "0"]])
  assert read_glue_tsv(path, "sst2") == [
      TextExample("train.tsv:2", 'a "great movie ', None, 1),
      TextExample("train.tsv:3", "dull", None, 0)]


def test_cola_headerless_train_and_headed_test(tmp_path):
  train = write(tmp_path, "train.tsv", [["gj04", "1", "", "Our friends won't buy this."],
                                        ["gj04", "0", "*", "Him left."]])
  assert [(e.text_a, e.label) for e in read_glue_tsv(train, "cola")] == [
      ("Our friends won't buy this.", 1), ("Him left.", 0)]
  test = write(tmp_path, "test.tsv", [["index", "sentence"], ["0", "Bill whistled."]])
  assert read_glue_tsv(test, "CoLA") == [TextExample("test.tsv:2", "Bill whistled.", None, None)]


def test_rte_string_labels_and_mnli_gold_label_column(tmp_path):
  rte = write(tmp_path, "dev.tsv", [["index", "sentence1", "sentence2", "label"],
                                    ["0", "A cat sat.", "A cat exists.", "entailment"],
                                    ["1", "A cat sat.", "No cat.", "not_entailment"]])
  assert [(e.text_a, e.text_b, e.label) for e in read_glue_tsv(rte, "rte")] == [
      ("A cat sat.", "A cat exists.", 0), ("A cat sat.", "No cat.", 1)]
  # MNLI dev: ten columns, label1..label5, then gold_label last.
  header = ["index", "promptID", "pairID", "genre", "s1_bp", "s2_bp", "s1_p", "s2_p",
            "sentence1", "sentence2", "label1", "label2", "label3", "label4", "label5",
            "gold_label"]
  row = ["0", "1", "1e", "fiction", "", "", "", "", "P.", "H.", "neutral", "contradiction",
         "contradiction", "neutral", "contradiction", "contradiction"]
  mnli = write(tmp_path, "dev_matched.tsv", [header, row])
  assert read_glue_tsv(mnli, "mnli") == [TextExample("dev_matched.tsv:2", "P.", "H.", 2)]


def test_mrpc_with_byte_order_mark_and_stsb_scores(tmp_path):
  mrpc = write(tmp_path, "train.tsv", [["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"],
                                       ["1", "7", "8", "He left.", "He went."]], prefix="\ufeff")
  assert read_glue_tsv(mrpc, "mrpc")[0].label == 1
  header = ["index", "genre", "filename", "year", "old_index", "source1", "source2",
            "sentence1", "sentence2", "score"]
  stsb = write(tmp_path, "sts.tsv", [header, ["0", "g", "f", "y", "0", "s", "s", "A.", "B.",
                                              "3.800"]])
  example = read_glue_tsv(stsb, "stsb")[0]
  assert example.label == pytest.approx(3.8) and (example.text_a, example.text_b) == ("A.", "B.")
  assert TASKS["stsb"].is_regression and TASKS["stsb"].num_labels == 1


def test_bad_rows_name_file_and_line(tmp_path):
  rte_header = ["index", "sentence1", "sentence2", "label"]
  path = write(tmp_path, "dev.tsv", [rte_header, ["0", "a", "b", "entailment"],
                                     ["1", "a", "b", "maybe"]])
  with pytest.raises(ValueError, match=r"dev.tsv:3: expected a rte label among .* found 'maybe'"):
    read_glue_tsv(path, "rte")
  path = write(tmp_path, "ids.tsv", [rte_header, ["0", "a", "b", "2"]])
  with pytest.raises(ValueError, match=r"ids.tsv:2: .* an id 0..1 .* found '2'"):
    read_glue_tsv(path, "rte")
  path = write(tmp_path, "short.tsv", [rte_header, ["0", "a", "b", "entailment"], ["1", "a"]])
  with pytest.raises(ValueError, match=r"short.tsv:3: expected at least 4 tab-separated"):
    read_glue_tsv(path, "rte")
  path = write(tmp_path, "score.tsv", [["sentence1", "sentence2", "score"], ["a", "b", "high"]])
  with pytest.raises(ValueError, match=r"score.tsv:2: expected a numeric stsb score"):
    read_glue_tsv(path, "stsb")
  path = write(tmp_path, "wrong.tsv", [["sentence", "label"], ["a", "1"]])
  with pytest.raises(ValueError, match=r"wrong.tsv:1: expected a header row naming"):
    read_glue_tsv(path, "rte")


def test_task_table_is_consistent():
  for task in TASKS.values():
    assert set(task.metrics) <= set(METRICS), task.name
    assert len(task.text_columns) == len(task.tfds_text_keys), task.name


def test_get_task_names():
  assert get_task("SST-2") is TASKS["sst2"] and get_task("STS-B") is TASKS["stsb"]
  assert get_task("mnli").labels == ("entailment", "neutral", "contradiction")
  with pytest.raises(ValueError, match="expected one of"):
    get_task("squad")


def test_tfds_mock_data_sst2_and_stsb():
  with tfds.testing.mock_data(num_examples=4):
    sst2 = read_glue_tfds("sst2", "train")
    stsb = read_glue_tfds("stsb", "validation")
  assert len(sst2) == 4 and all(e.label in (0, 1) and e.text_b is None for e in sst2)
  assert all(isinstance(e.text_a, str) for e in sst2)
  assert all(isinstance(e.label, float) and isinstance(e.text_b, str) for e in stsb)


def test_tfds_records_map_keys_and_unlabelled_test():
  records = [{"idx": np.int32(5), "premise": b"P.", "hypothesis": "H.", "label": np.int64(2)},
             {"idx": np.int32(6), "premise": "P2.", "hypothesis": "H2.", "label": np.int64(-1)}]
  with tfds.testing.mock_data(as_data_source_fn=lambda self, split, **kw: records):
    examples = read_glue_tfds("mnli", "test_matched")
  assert examples == [TextExample("glue/mnli/test_matched:5", "P.", "H.", 2),
                      TextExample("glue/mnli/test_matched:6", "P2.", "H2.", None)]
