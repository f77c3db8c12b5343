"""Dense heads: the Cross-DINO head (box-aware classification loss)."""
from .cross_dino_head import CrossDINOHead, needs_bboxes

__all__ = ['CrossDINOHead', 'needs_bboxes']
