"""Detectors: Cross-DINO."""
from .cross_dino import CrossDINO

__all__ = ['CrossDINO']
from .enact_detr import (ENACTDETR, ENACTConditionalDETR,  # noqa: E402
                         ENACTCrossDINO, ENACTDABDETR, ENACTDINO)

__all__ += [
    'ENACTConditionalDETR', 'ENACTCrossDINO', 'ENACTDABDETR', 'ENACTDETR',
    'ENACTDINO'
]
from .hmpe_dino import HMPEDINO  # noqa: E402

__all__ += ['HMPEDINO']
