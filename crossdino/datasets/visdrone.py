"""VisDrone2019-DET dataset on top of mmdet's ``CocoDataset``.

Reads the COCO JSON written by ``tools/dataset_converters/visdrone2coco.py``,
in which VisDrone's ignored regions (categories 0 and 11) are annotations
with ``category_id=0`` and ``ignore=1``; they reach the pipeline as ignored
instances (see :class:`IgnoredRegionsCocoDataset`).
"""
from mmdet.registry import DATASETS

from .ignored_regions_coco import IGNORED_LABEL, IgnoredRegionsCocoDataset

__all__ = ['VisDroneDataset', 'IGNORED_LABEL']


@DATASETS.register_module()
class VisDroneDataset(IgnoredRegionsCocoDataset):
    """VisDrone2019-DET in crossdino's COCO format, with ignored regions."""

    METAINFO = {
        'classes': ('pedestrian', 'people', 'bicycle', 'car', 'van', 'truck',
                    'tricycle', 'awning-tricycle', 'bus', 'motor'),
        'palette': [(220, 20, 60), (255, 140, 0), (255, 215, 0),
                    (0, 90, 230), (0, 200, 210), (130, 50, 210),
                    (230, 40, 190), (30, 160, 60), (150, 230, 50),
                    (250, 150, 190)]
    }
    CONVERTER_HINT = ('Download VisDrone2019-DET into the data root and '
                      'convert it with "python tools/dataset_converters/'
                      'visdrone2coco.py DATA_ROOT"; see data/README.md')
