"""Necks: the Cross Coding Twice Module (Cross-DINO)."""
from .cctm import CCTM, CCTM_MODES, EQ3_INPUTS, MaskedGRN

__all__ = ['CCTM', 'CCTM_MODES', 'EQ3_INPUTS', 'MaskedGRN']

from .lsconv_channel_mapper import LSConvChannelMapper  # noqa: E402

__all__ += ['LSConvChannelMapper']
