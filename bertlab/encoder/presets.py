"""Published model sizes, by their published names, with their published parameter counts.

`python -m bertlab.encoder.presets` prints each preset's parameter count next to the
published one. Counts are of the encoder (embeddings, layers, pooler where the family has one).
"""

from __future__ import annotations

import difflib

from bertlab.encoder.config import EncoderConfig


def _bert(l, h, a, vocab=30522, **kw):
  return EncoderConfig(vocab_size=vocab, hidden_size=h, num_layers=l, num_heads=a,
                       intermediate_size=4 * h, **kw)


def _albert(l, h, a):
  # ALBERT Table 1: E = 128, all layers share one set of weights, SentencePiece 30k.
  return EncoderConfig(vocab_size=30000, hidden_size=h, num_layers=l, num_heads=a,
                       intermediate_size=4 * h, embedding_size=128, sharing="all",
                       hidden_act="gelu_new", hidden_dropout=0.0, attention_dropout=0.0)


def _roberta(l, h, a):
  # fairseq/HF layout: positions start at pad_token_id + 1 = 2, one token type.
  return EncoderConfig(vocab_size=50265, hidden_size=h, num_layers=l, num_heads=a,
                       intermediate_size=4 * h, max_position_embeddings=514, type_vocab_size=1,
                       position_offset=2, pad_token_id=1, layer_norm_eps=1e-5)


def _electra(l, h, a, e, ff=None):
  # ELECTRA has no tanh pooler: its heads read the [CLS] state.
  return EncoderConfig(hidden_size=h, num_layers=l, num_heads=a, intermediate_size=ff or 4 * h,
                       embedding_size=e, use_pooler=False)


# name -> (config, published parameter count in millions, source). A published figure is
# rounded: tests allow 2 % or half a unit of its last printed digit, whichever is larger.
PRESETS: dict[str, tuple[EncoderConfig, float, str]] = {
    # Turc et al. 2019 (google-research/bert README, "smaller BERT models").
    "bert-tiny": (_bert(2, 128, 2), 4.4, "Turc et al. 2019"),
    "bert-mini": (_bert(4, 256, 4), 11.3, "Turc et al. 2019"),
    "bert-small": (_bert(4, 512, 8), 29.1, "Turc et al. 2019"),
    "bert-medium": (_bert(8, 512, 8), 41.7, "Turc et al. 2019"),
    "bert-base": (_bert(12, 768, 12), 110, "Devlin et al. 2019 §3"),
    "bert-large": (_bert(24, 1024, 16), 340, "Devlin et al. 2019 §3"),
    "albert-base": (_albert(12, 768, 12), 12, "Lan et al. 2020 Table 1"),
    "albert-large": (_albert(24, 1024, 16), 18, "Lan et al. 2020 Table 1"),
    "albert-xlarge": (_albert(24, 2048, 16), 60, "Lan et al. 2020 Table 1"),
    # Table 1 prints 235M, which its own row (L 12, H 4096, E 128, all shared) cannot give:
    # that architecture has 222.6M; the released albert-xxlarge checkpoints have 223M.
    "albert-xxlarge": (_albert(12, 4096, 64), 223, "released albert-xxlarge-v2"),
    "roberta-base": (_roberta(12, 768, 12), 125, "Liu et al. 2019 (fairseq README)"),
    "roberta-large": (_roberta(24, 1024, 16), 355, "Liu et al. 2019 (fairseq README)"),
    # ELECTRA's figures are of the discriminator with its head (dense H->H, dense H->1).
    "electra-small": (_electra(12, 256, 4, 128, 1024), 14, "Clark et al. 2020 Table 1"),
    "electra-base": (_electra(12, 768, 12, 768), 110, "Clark et al. 2020 Table 1"),
    "electra-large": (_electra(24, 1024, 16, 1024), 335, "Clark et al. 2020 Table 1"),
    # Released generators (google-research/electra): same depth, hidden 256, 4 heads.
    "electra-small-generator": (_electra(12, 256, 4, 128, 1024), 13.5,
                                "google/electra-small-generator release"),
    "electra-base-generator": (_electra(12, 256, 4, 768, 1024), 33.5,
                               "google/electra-base-generator release"),
    "electra-large-generator": (_electra(24, 256, 4, 1024, 1024), 51,
                                "google/electra-large-generator release"),
    # SpanBERT: BERT's architecture with the cased 28,996-token WordPiece vocabulary.
    "spanbert-base": (_bert(12, 768, 12, vocab=28996), 110, "Joshi et al. 2020 (BERT-base size)"),
    "spanbert-large": (_bert(24, 1024, 16, vocab=28996), 340,
                       "Joshi et al. 2020 (BERT-large size)"),
}


def get(name: str, **overrides) -> EncoderConfig:
  """The preset's config, with optional field overrides (e.g. dtype="bfloat16")."""
  if name not in PRESETS:
    close = difflib.get_close_matches(name, list(PRESETS), n=3)
    raise ValueError(f"unknown preset {name!r}; known: {sorted(PRESETS)}"
                     + (f" (did you mean {close[0]!r}?)" if close else ""))
  cfg = PRESETS[name][0]
  return cfg.replace(**overrides) if overrides else cfg


def published_count(name: str) -> int:
  """What the published figure counts: the encoder, plus the RTD head for ELECTRA."""
  cfg = PRESETS[name][0]
  head = cfg.hidden_size * cfg.hidden_size + cfg.hidden_size + cfg.hidden_size + 1
  is_discriminator = name.startswith("electra") and not name.endswith("generator")
  return count_params(cfg) + (head if is_discriminator else 0)


def count_params(cfg: EncoderConfig) -> int:
  """Encoder parameter count from the architecture (no initialisation), equal to the module's."""
  h, e, f = cfg.hidden_size, cfg.embed_dim, cfg.intermediate_size
  emb = (cfg.padded_vocab_size + cfg.max_position_embeddings + cfg.type_vocab_size) * e + 2 * e
  proj = (e * h + h) if e != h else 0
  a = cfg.num_heads * cfg.head_dim  # = h, except in head-pruned models
  layer = 3 * (h * a + a) + (a * h + h) + (h * f + f) + (f * h + h) + 2 * 2 * h
  pool = (h * h + h) if cfg.use_pooler else 0
  return emb + proj + cfg.num_groups * layer + pool


def tolerance(published: float) -> float:
  """Allowed |ours - published| in millions: 2 %, or half a unit of the last printed digit."""
  text = f"{published:g}"
  if "." in text:
    unit = 10.0 ** -len(text.split(".")[1])
  else:
    unit = 10.0 ** (len(text) - len(text.rstrip("0")))  # "60" is printed to the ten
  return max(0.02 * published, unit / 2)


def main():
  print(f"{'preset':<26}{'L':>4}{'H':>6}{'A':>4}{'E':>6}{'groups':>8}{'params':>12}"
        f"{'published':>11}{'diff':>8}  source")
  for name, (cfg, published, src) in PRESETS.items():
    n = published_count(name) / 1e6
    print(f"{name:<26}{cfg.num_layers:>4}{cfg.hidden_size:>6}{cfg.num_heads:>4}{cfg.embed_dim:>6}"
          f"{cfg.num_groups:>8}{n:>11.1f}M{published:>10}M{100 * (n / published - 1):>7.1f}%  {src}")


if __name__ == "__main__":
  main()
