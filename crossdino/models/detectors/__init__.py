"""Detectors: Cross-DINO."""
from .cross_dino import CrossDINO

__all__ = ['CrossDINO']
