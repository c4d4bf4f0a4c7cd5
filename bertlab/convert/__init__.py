"""Hugging Face checkpoints <-> bertlab params (hf.py: encoder; heads.py: pretraining heads)."""

from bertlab.convert.heads import (
    electra_pair_from_hf,
    electra_pair_state_from_params,
    load_electra_pair,
    load_pretraining,
    pretraining_from_hf,
    pretraining_state_from_params,
)
from bertlab.convert.hf import (
    encoder_from_hf,
    encoder_params_from_state,
    encoder_state_from_params,
    load_encoder,
)
from bertlab.convert.hf_config import encoder_config_from_hf, hf_config_from_encoder

__all__ = ["electra_pair_from_hf", "electra_pair_state_from_params", "encoder_config_from_hf",
           "encoder_from_hf", "encoder_params_from_state", "encoder_state_from_params",
           "hf_config_from_encoder", "load_electra_pair", "load_encoder", "load_pretraining",
           "pretraining_from_hf", "pretraining_state_from_params"]
