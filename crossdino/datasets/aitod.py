"""AI-TOD (v1 and v2) on top of :class:`IgnoredRegionsCocoDataset`.

AI-TOD is released as COCO JSON (``aitod_trainval_v1.json``,
``aitod_test_v1.json``) and used as is; ``tools/dataset_converters/
check_coco.py`` validates it (and writes a cleaned copy with ``--fix``).
AI-TOD has no ignored regions, so this behaves like mmdet's ``CocoDataset``
with AI-TOD's class names.
"""
from mmdet.registry import DATASETS

from .ignored_regions_coco import IgnoredRegionsCocoDataset

__all__ = ['AITODDataset']


@DATASETS.register_module()
class AITODDataset(IgnoredRegionsCocoDataset):
    """AI-TOD: 8 classes of tiny objects in 800x800 aerial images."""

    METAINFO = {
        'classes': ('airplane', 'bridge', 'storage-tank', 'ship',
                    'swimming-pool', 'vehicle', 'person', 'wind-mill'),
        'palette': [(220, 20, 60), (150, 230, 50), (255, 140, 0),
                    (0, 90, 230), (0, 200, 210), (130, 50, 210),
                    (230, 40, 190), (255, 215, 0)]
    }
    CONVERTER_HINT = ('Download AI-TOD into the data root (annotations/'
                      'aitod_{trainval,test}_v1.json, trainval/images/, '
                      'test/images/) and check it with "python tools/'
                      'dataset_converters/check_coco.py DATA_ROOT/annotations/'
                      'aitod_test_v1.json --img-dir DATA_ROOT/test/images"; '
                      'see data/README.md')
