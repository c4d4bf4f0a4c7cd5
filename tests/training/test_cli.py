"""The drivers' shared command line: one clear line for a bad key or a missing flag."""

import os

import pytest

from bertlab import finetune, train
from bertlab.compress import distill_run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("main,config,bad,nearest", [
    (train.main, "configs/tiny/bert.py", "batch_sze", "batch_size"),
    (finetune.main, "configs/finetune/sst2.py", "num_train_exemples", "num_train_examples"),
    (distill_run.main, "configs/distill/sst2_tiny.py", "teachr", "teacher"),
])
def test_unknown_key_names_the_nearest_and_missing_workdir_prints_usage(main, config, bad,
                                                                        nearest):
  cfg = os.path.join(ROOT, config)
  with pytest.raises(SystemExit, match=f"unknown config key '{bad}'; did you mean '{nearest}'"):
    main(["prog", f"--config={cfg}", "--workdir=/nonexistent/never", f"--config.{bad}=1"])
  with pytest.raises(SystemExit, match="^usage: python "):
    main(["prog", f"--config={cfg}"])
