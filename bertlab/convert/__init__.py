"""Hugging Face checkpoints <-> bertlab params (see hf.py)."""

from bertlab.convert.hf import (
    encoder_from_hf,
    encoder_params_from_state,
    encoder_state_from_params,
    load_encoder,
)
from bertlab.convert.hf_config import encoder_config_from_hf, hf_config_from_encoder

__all__ = ["encoder_config_from_hf", "encoder_from_hf", "encoder_params_from_state",
           "encoder_state_from_params", "hf_config_from_encoder", "load_encoder"]
