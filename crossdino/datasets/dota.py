"""DOTA-v1.5 (horizontal boxes) on top of :class:`IgnoredRegionsCocoDataset`.

Reads the JSON written by ``tools/dataset_converters/dota2coco.py``: the
full-image JSON or, for training and testing, the patch JSON of
``split_patches`` (1024 x 1024, gap 200). Patch images carry their position
in the original image (``orig_image_id``, ``x_offset``, ``y_offset``), which
:class:`PatchInfoMixin` copies into the data info so that ``PackDetInputs``
can pass them to :class:`~crossdino.evaluation.metrics.PatchMergeMetric`.
"""
from typing import List, Union

from mmdet.registry import DATASETS

from .converters.dota import DOTA_V15_CLASSES
from .ignored_regions_coco import IgnoredRegionsCocoDataset

__all__ = ['PATCH_META_KEYS', 'PatchInfoMixin', 'DOTAv15Dataset']

# Image fields of a patch JSON that locate the patch in its original image.
PATCH_META_KEYS = ('orig_image_id', 'x_offset', 'y_offset')


class PatchInfoMixin:
    """Copy :data:`PATCH_META_KEYS` of patch images into the data info."""

    def parse_data_info(self, raw_data_info: dict) -> Union[dict, List[dict]]:
        data_info = super().parse_data_info(raw_data_info)
        img_info = raw_data_info['raw_img_info']
        for key in PATCH_META_KEYS:
            if key in img_info:
                data_info[key] = img_info[key]
        return data_info


@DATASETS.register_module()
class DOTAv15Dataset(PatchInfoMixin, IgnoredRegionsCocoDataset):
    """DOTA-v1.5 with horizontal boxes, 16 classes, in crossdino's layout."""

    METAINFO = {
        'classes': DOTA_V15_CLASSES,
        'palette': [(165, 42, 42), (189, 183, 107), (0, 255, 0),
                    (255, 0, 0), (138, 43, 226), (255, 128, 0),
                    (255, 0, 255), (0, 255, 255), (255, 193, 193),
                    (0, 51, 153), (255, 250, 205), (0, 139, 139),
                    (255, 255, 0), (147, 116, 116), (0, 0, 255),
                    (220, 20, 60)]
    }
    CONVERTER_HINT = ('Put DOTA-v1.5 as DATA_ROOT/{train,val}/{images,'
                      'labelTxt} and run "python tools/dataset_converters/'
                      'dota2coco.py DATA_ROOT" (converts and splits into '
                      '1024 px patches); see data/README.md')
