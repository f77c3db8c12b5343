"""Datasets, converters and synthetic data for crossdino."""
from .converters import convert_visdrone_split, format_summary
from .ignored_regions_coco import IgnoredRegionsCocoDataset
from .synthetic_visdrone import generate_synthetic_visdrone
from .visdrone import VisDroneDataset

__all__ = [
    'IgnoredRegionsCocoDataset', 'VisDroneDataset', 'convert_visdrone_split',
    'format_summary', 'generate_synthetic_visdrone'
]
