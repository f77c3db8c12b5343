"""WiderPerson on top of :class:`IgnoredRegionsCocoDataset`.

Reads the COCO JSON written by
``tools/dataset_converters/widerperson2coco.py``. With the default class
protocol (IterDet's, which Cross-DINO follows) the only class is
``pedestrian`` (WiderPerson label 1); riders, partially-visible persons,
ignore regions and crowd boxes are ignored regions and reach the pipeline as
ignored instances.
"""
from mmdet.registry import DATASETS

from .ignored_regions_coco import IgnoredRegionsCocoDataset

__all__ = ['WiderPersonDataset']


@DATASETS.register_module()
class WiderPersonDataset(IgnoredRegionsCocoDataset):
    """WiderPerson in crossdino's COCO format, with ignored regions.

    ``METAINFO`` matches the converter's default ``--classes pedestrian``.
    JSON files converted with ``--classes person`` or ``--classes all`` need
    the matching names in the config, since mmdet selects categories by
    name::

        metainfo=dict(classes=('person', ))                      # person
        metainfo=dict(classes=('pedestrian', 'rider',
                               'partially-visible person', 'crowd'))  # all
    """

    METAINFO = {'classes': ('pedestrian', ), 'palette': [(220, 20, 60)]}
    CONVERTER_HINT = ('Download WiderPerson into the data root (Images/, '
                      'Annotations/, train.txt, val.txt) and convert it '
                      'with "python tools/dataset_converters/'
                      'widerperson2coco.py DATA_ROOT"; see data/README.md')
