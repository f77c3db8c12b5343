"""Necks: the Cross Coding Twice Module (Cross-DINO), the Linear-Snake Conv
channel mapper (HMPE)."""
from .cctm import CCTM, CCTM_MODES, EQ3_INPUTS, MaskedGRN
from .lsconv_channel_mapper import LSConvChannelMapper

__all__ = [
    'CCTM', 'CCTM_MODES', 'EQ3_INPUTS', 'MaskedGRN', 'LSConvChannelMapper'
]
