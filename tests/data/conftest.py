"""Fixtures of the data tests."""

import pytest
from datahelpers import corpus_text


@pytest.fixture
def corpus_file(tmp_path):
  """A small synthetic corpus: sentence per line, blank line between documents."""
  path = tmp_path / "corpus.txt"
  path.write_text(corpus_text(), encoding="utf-8")
  return str(path)
