"""Backbones: CLAP-Strip-MLP and a wrapper for timm feature extractors."""
from .clap_strip_mlp import (CLAPStripMLP, convert_strip_mlp_official,
                             is_strip_mlp_official)
from .timm_backbone import TimmBackbone

__all__ = [
    'CLAPStripMLP', 'TimmBackbone', 'convert_strip_mlp_official',
    'is_strip_mlp_official'
]
