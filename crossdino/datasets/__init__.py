"""Datasets, converters and synthetic data for crossdino."""
from .converters import convert_visdrone_split, format_summary
from .ignored_regions_coco import IgnoredRegionsCocoDataset
from .synthetic_visdrone import generate_synthetic_visdrone
from .visdrone import VisDroneDataset
from .widerperson import WiderPersonDataset
from .nwpu_vhr10 import NWPUVHR10Dataset
from .aitod import AITODDataset

__all__ = [
    'IgnoredRegionsCocoDataset', 'VisDroneDataset', 'convert_visdrone_split',
    'format_summary', 'generate_synthetic_visdrone'
]
__all__ += ['WiderPersonDataset', 'NWPUVHR10Dataset', 'AITODDataset']
from .dota import DOTAv15Dataset  # noqa: E402
from .sodad import SODADDataset  # noqa: E402

__all__ += ['DOTAv15Dataset', 'SODADDataset']
