"""Corpora: formats, sources, and bad input repaired and counted, never fatal or silent."""

import gzip

import pytest

from bertlab.data import corpora, corpus_spec
from bertlab.data.corpora import TextFiles
from bertlab.data.corpora_builtin import PydocCorpus, TfdsCorpus


def _write(tmp_path, name, data):
  p = tmp_path / name
  (p.write_bytes if isinstance(data, bytes) else p.write_text)(data)
  return str(p)


def test_sentence_per_line_with_blank_line_between_documents(tmp_path):
  path = _write(tmp_path, "a.txt", "One.\nTwo.\n\n\n\nThree.\n  \nFour.\nFive.")
  c = TextFiles([path])
  assert list(c.documents()) == [["One.", "Two."], ["Three."], ["Four.", "Five."]]
  s = c.stats
  assert (s.files, s.documents, s.lines, dict(s.issues)) == (1, 3, 5, {})


def test_document_per_line_splits_sentences(tmp_path):
  path = _write(tmp_path, "a.txt", "First one. Second one! Third?\n\nAnother doc. 東京です。次")
  docs = list(TextFiles([path], doc_per_line=True).documents())
  assert docs == [["First one.", "Second one!", "Third?"], ["Another doc.", "東京です。", "次"]]


def test_gzip_and_globs_in_sorted_order(tmp_path):
  _write(tmp_path, "b.txt", "from b\n")
  with gzip.open(tmp_path / "a.txt.gz", "wt") as f:
    f.write("from a\n\nsecond a\n")
  c = corpus_spec.open_corpus([str(tmp_path / "*.txt*")])
  assert list(c.documents()) == [["from a"], ["second a"], ["from b"]]
  assert c.stats.files == 2


def test_invalid_utf8_replaced_or_skipped_and_counted(tmp_path):
  path = _write(tmp_path, "bad.txt", b"good line\nbad \xff\xfe line\nfine\n")
  c = TextFiles([path])
  assert list(c.documents()) == [["good line", "bad \ufffd\ufffd line", "fine"]]
  assert c.stats.issues == {"undecodable_lines_replaced": 1}
  c = TextFiles([path], errors="skip")
  assert list(c.documents()) == [["good line", "fine"]]
  assert c.stats.issues == {"undecodable_lines_skipped": 1}


def test_latin1_file_and_crlf(tmp_path):
  latin = _write(tmp_path, "l.txt", "café crème\r\nna\xefve\r\n".encode("latin-1"))
  c = TextFiles([latin])
  assert [len(d) for d in c.documents()] == [2]
  assert c.stats.issues == {"undecodable_lines_replaced": 2}
  assert list(TextFiles([latin], encoding="latin-1").documents()) == [["café crème", "naïve"]]
  crlf = _write(tmp_path, "c.txt", b"one\r\ntwo\r\n\r\nthree\r\n")
  c = TextFiles([crlf])
  assert list(c.documents()) == [["one", "two"], ["three"]] and not c.stats.issues


def test_control_characters_and_bom_removed_and_counted(tmp_path):
  path = _write(tmp_path, "c.txt", "\ufeffab\x00c\x07d\tok\x1b[0m\nx\ry\n".encode())
  c = TextFiles([path])
  assert list(c.documents()) == [["abcd\tok[0m", "x y"]]
  assert c.stats.issues == {"byte_order_marks_removed": 1, "control_chars_removed": 4}


def test_ten_megabyte_line_is_cut_without_loss(tmp_path):
  words = " ".join(f"w{i}" for i in range(1_500_000))  # ~10.3 MB, one line
  path = _write(tmp_path, "long.txt", "before\n" + words + "\nafter\n")
  c = TextFiles([path])
  (doc,) = list(c.documents())
  assert doc[0] == "before" and doc[-1] == "after"
  pieces = doc[1:-1]
  assert max(len(p.encode()) for p in pieces) <= corpora.MAX_LINE_BYTES
  assert " ".join(pieces) == words
  assert c.stats.issues == {"long_lines_cut": 1, "long_line_pieces": len(pieces)}
  # Without spaces: cut at UTF-8 character boundaries (no replacement characters).
  path = _write(tmp_path, "long2.txt", "é" * 100_000)
  (doc,) = list(TextFiles([path], doc_per_line=True).documents())
  assert "".join(doc) == "é" * 100_000 and len(doc) == 4


def test_empty_files_documents_and_corpus(tmp_path):
  empty = _write(tmp_path, "empty.txt", "")
  junk = _write(tmp_path, "junk.txt", "\x00\x01\n\nreal text\n")
  c = TextFiles([empty, junk])
  assert list(c.documents()) == [["real text"]]
  assert c.stats.issues == {"empty_files": 1, "empty_documents_skipped": 1,
                            "control_chars_removed": 2}
  blank = _write(tmp_path, "blank.txt", "\n \n\t\n")
  with pytest.raises(ValueError, match=r"empty corpus.*empty\.txt.*blank\.txt"):
    list(TextFiles([empty, blank]).documents())
  with pytest.raises(FileNotFoundError, match="matches no file"):
    TextFiles([str(tmp_path / "nope*.txt")])


def test_fingerprint_follows_file_contents(tmp_path):
  path = _write(tmp_path, "a.txt", "one\n")
  f1 = TextFiles([path]).fingerprint()
  assert TextFiles([path]).fingerprint() == f1
  assert TextFiles([path], doc_per_line=True).fingerprint() != f1
  _write(tmp_path, "a.txt", "one two\n")
  assert TextFiles([path]).fingerprint() != f1


def test_builtin_pydoc_corpus():
  c = corpus_spec.open_corpus(None)
  assert isinstance(c, PydocCorpus)
  docs = list(c.documents())
  assert len(docs) > 50 and c.stats.chars > 300_000
  assert all(doc and all(s.strip() == s and s for s in doc) for doc in docs)
  assert not any(set(s) <= set("*=-~^ ") for doc in docs for s in doc)  # no heading rules
  assert c.fingerprint() == PydocCorpus().fingerprint()


def test_tfds_data_source_with_mock_data():
  tfds = pytest.importorskip("tensorflow_datasets")
  texts = [{"text": b"First sentence. Second one.\nNew paragraph.", "title": b"a"},
           {"text": b"", "title": b"empty"},
           {"text": b"bad \xff byte", "title": b"b"}]
  with tfds.testing.mock_data(as_data_source_fn=lambda *a, **k: texts):
    c = corpus_spec.open_corpus(["tfds:wikipedia/20230601.en:train"])
    assert isinstance(c, TfdsCorpus)
    assert list(c.documents()) == [["First sentence.", "Second one.", "New paragraph."],
                                   ["bad \ufffd byte"]]
    assert c.stats.issues == {"empty_documents_skipped": 1, "undecodable_lines_replaced": 1}
    assert c.fingerprint() != TfdsCorpus("wikipedia/20230601.en", "validation").fingerprint()
