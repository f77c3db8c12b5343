"""Detectors: Cross-DINO, the ENACT DETRs, HMPE-DINO, DINO with bounded
denoising, and all of Cross-DINO, HMPE and global ENACT in one."""
from .bounded_denoising import BoundedDenoisingDINO
from .cross_dino import CrossDINO
from .cross_hmpe_dino import CrossHMPEDINO
from .enact_detr import (ENACTDETR, ENACTConditionalDETR, ENACTCrossDINO,
                         ENACTDABDETR, ENACTDINO)
from .hmpe_dino import HMPEDINO

__all__ = [
    'BoundedDenoisingDINO', 'CrossDINO', 'CrossHMPEDINO',
    'ENACTConditionalDETR',
    'ENACTCrossDINO', 'ENACTDABDETR', 'ENACTDETR', 'ENACTDINO', 'HMPEDINO'
]
