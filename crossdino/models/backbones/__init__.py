"""Backbones: CLAP-Strip-MLP and a wrapper for timm feature extractors."""
from .clap_strip_mlp import CLAPStripMLP, convert_strip_mlp_official

__all__ = ['CLAPStripMLP', 'convert_strip_mlp_official']
