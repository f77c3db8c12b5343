"""Detectors: Cross-DINO."""
from .cross_dino import CrossDINO

__all__ = ['CrossDINO']
from .enact_detr import ENACTConditionalDETR, ENACTDABDETR, ENACTDETR  # noqa: E402,E501

__all__ += ['ENACTConditionalDETR', 'ENACTDABDETR', 'ENACTDETR']
