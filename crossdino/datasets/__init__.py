"""Datasets, converters and synthetic data for crossdino."""
from .aitod import AITODDataset
from .converters import convert_visdrone_split, format_summary
from .dota import DOTAv15Dataset
from .ignored_regions_coco import IgnoredRegionsCocoDataset
from .nwpu_vhr10 import NWPUVHR10Dataset
from .sodad import SODADDataset
from .synthetic_visdrone import generate_synthetic_visdrone
from .transforms import LoadImageFromFile
from .visdrone import VisDroneDataset
from .widerperson import WiderPersonDataset

__all__ = [
    'IgnoredRegionsCocoDataset', 'VisDroneDataset', 'WiderPersonDataset',
    'NWPUVHR10Dataset', 'AITODDataset', 'DOTAv15Dataset', 'SODADDataset',
    'convert_visdrone_split', 'format_summary', 'generate_synthetic_visdrone',
    'LoadImageFromFile'
]
