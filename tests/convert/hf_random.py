"""Random Hugging Face models and padded batches shared by the conversion tests."""

import torch

LENGTHS = (10, 7, 4)  # right padding to 10


def randomize(model: torch.nn.Module, seed: int):
  """Redraws every parameter: norm scales near 1, everything else N(0, 0.1).

  HF's own init (LayerNorm ones/zeros, std 0.02) would hide a swapped scale and bias.
  """
  gen = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, p in model.named_parameters():
      noise = torch.randn(p.shape, generator=gen)
      is_scale = ("LayerNorm" in name or "layer_norm" in name) and name.endswith("weight")
      p.copy_(1.0 + 0.2 * noise if is_scale else 0.1 * noise)
  return model.eval()


def make_batch(cfg, seed=0):
  """ids, attention mask and token types [3, 10], right-padded with cfg.pad_token_id."""
  gen = torch.Generator().manual_seed(seed)
  mask = torch.tensor([[1] * n + [0] * (10 - n) for n in LENGTHS])
  ids = torch.randint(3, cfg.vocab_size, (3, 10), generator=gen)
  ids = torch.where(mask.bool(), ids, cfg.pad_token_id)
  types = torch.randint(0, cfg.type_vocab_size, (3, 10), generator=gen) * mask
  return ids, mask, types
