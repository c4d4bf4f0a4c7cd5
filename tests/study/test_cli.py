"""study.py's command line: flags, one-line errors, --report on a workdir with nothing run."""

import json
import os

import pytest

from bertlab.study import main

CONFIG = '''
import pathlib
from study_toy import toy_study

def get_config():
  return toy_study(pathlib.Path({data!r}), {task!r})
'''


@pytest.fixture
def config_file(tmp_path, sst2_config):
  path = tmp_path / "toy_study.py"
  path.write_text(CONFIG.format(data=str(tmp_path), task=sst2_config))
  return str(path)


def test_bad_slice_is_one_line(config_file, tmp_path):
  with pytest.raises(SystemExit, match=r"error: --cells: expected i/N .* found '3/2'"):
    main.main(["study.py", f"--config={config_file}", f"--workdir={tmp_path / 'w'}",
               "--cells=3/2"])


def test_unknown_key_names_the_nearest(config_file, tmp_path):
  with pytest.raises(SystemExit, match=r"budget_flop.*did you mean 'pretrain.budget_flops'"):
    main.main(["study.py", f"--config={config_file}", f"--workdir={tmp_path / 'w'}",
               "--config.pretrain.budget_flop=1e12"])


def test_report_with_nothing_run(config_file, tmp_path):
  workdir = tmp_path / "w"
  assert main.main(["study.py", f"--config={config_file}", f"--workdir={workdir}",
                    "--report", "--config.finetune.seeds=(0,1,2)"]) == 0
  report = json.load(open(workdir / "study.json"))
  # bert and electra: 2 fractions x 3 seeds each; random: 3 seeds.
  assert report["cells_done"] == 0 and report["cells_total"] == 15
  assert not os.path.exists(workdir / "tokenizer")  # --report trains nothing
  assert "0 of 15 cells done" in open(workdir / "study.md").read()
