# Copyright (c) crossdino contributors. All rights reserved.
"""mmengine metrics registered in mmdet's ``METRICS``."""
from .patch_merge_metric import PatchMergeMetric
from .sodad_metric import SODAD_AREA_RANGES, SODADMetric
from .tiny_coco_metric import TinyObjectCocoMetric
from .voc_ap_metric import VOCAPMetric
from .widerperson_metric import WiderPersonMetric

__all__ = [
    'TinyObjectCocoMetric', 'SODAD_AREA_RANGES', 'SODADMetric', 'VOCAPMetric',
    'WiderPersonMetric', 'PatchMergeMetric'
]
