"""Fixtures of the data tests."""

import pytest
import os
import sys

# Test helpers live beside this file (pytest runs in importlib mode: no implicit sys.path).
sys.path.insert(0, os.path.dirname(__file__))

from datahelpers import corpus_text  # noqa: E402


@pytest.fixture
def corpus_file(tmp_path):
  """A small synthetic corpus: sentence per line, blank line between documents."""
  path = tmp_path / "corpus.txt"
  path.write_text(corpus_text(), encoding="utf-8")
  return str(path)
