"""NWPU VHR-10 on top of :class:`IgnoredRegionsCocoDataset`.

Reads the COCO JSON files written by
``tools/dataset_converters/nwpu_vhr10_2coco.py`` (a seeded split, since the
dataset has none); ``file_name`` is relative to the dataset root
(``positive image set/001.jpg``, ``negative image set/001.jpg``), so the
configs use ``data_prefix=dict(img='')``.
"""
from mmdet.registry import DATASETS

from .ignored_regions_coco import IgnoredRegionsCocoDataset

__all__ = ['NWPUVHR10Dataset']


@DATASETS.register_module()
class NWPUVHR10Dataset(IgnoredRegionsCocoDataset):
    """NWPU VHR-10 (10 classes, 150 negative images) in COCO format."""

    METAINFO = {
        'classes': ('airplane', 'ship', 'storage tank', 'baseball diamond',
                    'tennis court', 'basketball court', 'ground track field',
                    'harbor', 'bridge', 'vehicle'),
        'palette': [(220, 20, 60), (0, 90, 230), (255, 140, 0),
                    (30, 160, 60), (130, 50, 210), (0, 200, 210),
                    (230, 40, 190), (255, 215, 0), (150, 230, 50),
                    (250, 150, 190)]
    }
    CONVERTER_HINT = ('Unpack NWPU VHR-10 into the data root ("positive '
                      'image set/", "negative image set/", "ground truth/") '
                      'and convert it with "python tools/dataset_converters/'
                      'nwpu_vhr10_2coco.py DATA_ROOT"; see data/README.md')
