"""A random-weight BERT directory as the hub ships sentence-embedding checkpoints, for the
benchmarks: a WordPiece vocabulary trained on the benchmark's own texts, a tokenizer.json with
`"padding": {"strategy": {"Fixed": 128}}` and truncation 128 stored (the issue's case),
tokenizer_config.json, config.json + model.safetensors of the requested head, and
sentence-transformers' modules.json / pooling files."""

from __future__ import annotations

import json
import os

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SIZE = dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536,
            max_position_embeddings=512)
# For the scripts' smoke tests.
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=512)


def write_tokenizer(out: str, texts, vocab_size: int = 8000) -> int:
  import tokenizers as hf

  tok = hf.Tokenizer(hf.models.WordPiece(unk_token="[UNK]"))
  tok.normalizer = hf.normalizers.BertNormalizer(lowercase=True)
  tok.pre_tokenizer = hf.pre_tokenizers.BertPreTokenizer()
  tok.decoder = hf.decoders.WordPiece()
  trainer = hf.trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIALS)
  tok.train_from_iterator(texts, trainer)
  cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
  tok.post_processor = hf.processors.TemplateProcessing(
      single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
      special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
  tok.enable_padding(length=128, pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")
  tok.enable_truncation(max_length=128)
  os.makedirs(out, exist_ok=True)
  tok.save(os.path.join(out, "tokenizer.json"))
  vocab = tok.get_vocab()
  with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
    f.writelines(t + "\n" for t in sorted(vocab, key=vocab.get))
  with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
    json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": True,
               "model_max_length": 512}, f)
  return len(vocab)


def write_model(out: str, texts, head: str = "", seed: int = 0, labels=None,
                tiny: bool = False) -> str:
  """out/ with the tokenizer and a random BertModel / BertFor{head} (seeded)."""
  import torch
  import transformers as T

  vocab = write_tokenizer(out, texts)
  kw = {}
  if labels:
    kw = dict(num_labels=len(labels), id2label=dict(enumerate(labels)),
              label2id={n: i for i, n in enumerate(labels)})
  torch.manual_seed(seed)
  cls = getattr(T, f"BertFor{head}" if head else "BertModel")
  cls(T.BertConfig(vocab_size=vocab, **(TINY if tiny else SIZE), **kw)).save_pretrained(out)
  return out


def write_sentence_transformers(out: str, hidden: int = SIZE["hidden_size"]):
  """modules.json (Transformer, mean Pooling, Normalize) and their configs in `out`."""
  with open(os.path.join(out, "modules.json"), "w") as f:
    json.dump([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize"}], f)
  with open(os.path.join(out, "sentence_bert_config.json"), "w") as f:
    json.dump({"max_seq_length": 128, "do_lower_case": False}, f)
  os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
  os.makedirs(os.path.join(out, "2_Normalize"), exist_ok=True)
  with open(os.path.join(out, "1_Pooling", "config.json"), "w") as f:
    json.dump({"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True,
               "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False,
               "pooling_mode_mean_sqrt_len_tokens": False}, f)
