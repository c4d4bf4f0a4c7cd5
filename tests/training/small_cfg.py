"""Config file for subprocess tests: `--config tests/training/small_cfg.py:FAMILY`."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from conftest import small  # noqa: E402


def get_config(family="bert"):
  return small(family, "", "")
