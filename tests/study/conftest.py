"""Fixtures of the study tests; helpers live in study_toy.py beside this file (pytest runs in
importlib mode: no implicit sys.path)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(scope="session")
def sst2_config():
  here = os.path.dirname(__file__)
  return os.path.abspath(os.path.join(here, "..", "..", "configs", "finetune", "sst2.py"))
