"""Small corpora and caches that the data tests build for themselves (no shared data).

Imported by the tests as `datahelpers` (pytest puts this folder on sys.path)."""

import numpy as np

from bertlab.data.cache import TokenCache

_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "pe", "da", "gu", "zo", "ba",
              "fi", "ho", "je", "qu", "wy", "xe", "ti"]
# Words the tokenizers should learn, so parity checks compare real pieces, not only unknowns.
EXTRA = ["café", "naïve", "Ångström", "ÉCOLE", "Zürich", "東京", "你好", "世界", "こんにちは",
         "🤗", "🚀", "don't", "1,000", "3.14", "Straße", "résumé"]


def words(rng: np.random.Generator, n: int) -> list[str]:
  out = []
  for _ in range(n):
    w = "".join(rng.choice(_SYLLABLES, size=rng.integers(1, 4)))
    out.append(w.capitalize() if rng.random() < 0.1 else w)
  return out


def sentence(rng: np.random.Generator) -> str:
  ws = words(rng, int(rng.integers(3, 12)))
  if rng.random() < 0.3:
    ws.insert(int(rng.integers(0, len(ws))), str(rng.choice(EXTRA)))
  return " ".join(ws) + rng.choice([".", "!", "?", ","])


def corpus_text(seed: int = 0, docs: int = 60, sentences: tuple[int, int] = (3, 20)) -> str:
  """Sentence per line, blank line between documents."""
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(docs):
    out.append("\n".join(sentence(rng) for _ in range(int(rng.integers(*sentences)))))
  return "\n\n".join(out) + "\n"


def make_cache(docs: list[list[int]], seed: int = 0) -> TokenCache:
  """An in-memory TokenCache from documents given as lists of sentence lengths; token ids are
  100 + a running count (so every token is identifiable), word starts random."""
  rng = np.random.default_rng(seed)
  lengths = [n for doc in docs for n in doc]
  total = sum(lengths)
  sent = np.zeros(len(lengths) + 1, np.int64)
  sent[1:] = np.cumsum(lengths)
  doc_off = np.zeros(len(docs) + 1, np.int64)
  doc_off[1:] = np.cumsum([len(d) for d in docs])
  ws = rng.random(total) < 0.7
  ws[sent[:-1]] = True
  return TokenCache(path="<memory>", ids=100 + np.arange(total, dtype=np.int32),
                    word_starts=ws, sentence_offsets=sent, doc_offsets=doc_off, meta={})


def random_docs(seed: int, n_docs: int, sentences=(2, 30), length=(1, 25)) -> list[list[int]]:
  rng = np.random.default_rng(seed)
  return [[int(rng.integers(*length)) for _ in range(int(rng.integers(*sentences)))]
          for _ in range(n_docs)]
