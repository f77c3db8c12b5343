"""Detectors: Cross-DINO, the ENACT DETRs, HMPE-DINO, DINO with bounded
denoising."""
from .bounded_denoising import BoundedDenoisingDINO
from .cross_dino import CrossDINO
from .enact_detr import (ENACTDETR, ENACTConditionalDETR, ENACTCrossDINO,
                         ENACTDABDETR, ENACTDINO)
from .hmpe_dino import HMPEDINO

__all__ = [
    'BoundedDenoisingDINO', 'CrossDINO', 'ENACTConditionalDETR',
    'ENACTCrossDINO', 'ENACTDABDETR', 'ENACTDETR', 'ENACTDINO', 'HMPEDINO'
]
