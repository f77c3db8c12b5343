# Copyright (c) crossdino contributors. All rights reserved.
"""mmengine metrics registered in mmdet's ``METRICS``."""
from .tiny_coco_metric import TinyObjectCocoMetric
from .sodad_metric import SODAD_AREA_RANGES, SODADMetric
from .voc_ap_metric import VOCAPMetric
from .widerperson_metric import WiderPersonMetric

__all__ = ['TinyObjectCocoMetric']
__all__ += [
    'SODAD_AREA_RANGES', 'SODADMetric', 'VOCAPMetric', 'WiderPersonMetric'
]
from .patch_merge_metric import PatchMergeMetric  # noqa: E402

__all__ += ['PatchMergeMetric']
