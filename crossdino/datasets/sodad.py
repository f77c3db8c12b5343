"""SODA-D on top of :class:`IgnoredRegionsCocoDataset`.

Reads the JSON written by ``tools/dataset_converters/sodad2coco.py``: the
full-image JSON (SODA-D's ``ignore`` category as ignored regions) or the
800 x 800 / stride 650 patch JSON used for training and testing (Cross-DINO
Sec. IV-A, CFINet's protocol). Patch offsets reach the data samples as in
:class:`~crossdino.datasets.dota.DOTAv15Dataset`.
"""
from mmdet.registry import DATASETS

from .converters.sodad import SODAD_CLASSES
from .dota import PatchInfoMixin
from .ignored_regions_coco import IgnoredRegionsCocoDataset

__all__ = ['SODADDataset']


@DATASETS.register_module()
class SODADDataset(PatchInfoMixin, IgnoredRegionsCocoDataset):
    """SODA-D, 9 classes, in crossdino's layout."""

    METAINFO = {
        'classes': SODAD_CLASSES,
        'palette': [(220, 20, 60), (119, 11, 32), (0, 0, 142), (0, 0, 230),
                    (106, 0, 228), (0, 60, 100), (250, 170, 30),
                    (100, 170, 30), (255, 128, 0)]
    }
    CONVERTER_HINT = ('Put SODA-D as DATA_ROOT/{Images,Annotations} and run '
                      '"python tools/dataset_converters/sodad2coco.py '
                      'DATA_ROOT" (converts and splits into 800 px patches, '
                      'stride 650); see data/README.md')
