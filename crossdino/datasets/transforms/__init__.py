"""Pipeline transforms registered in mmdet's ``TRANSFORMS``."""
from .loading import LoadImageFromFile

__all__ = ['LoadImageFromFile']
