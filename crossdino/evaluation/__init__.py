# Copyright (c) crossdino contributors. All rights reserved.
"""Evaluation for tiny objects: functional COCO eval and mmengine metrics."""
from .functional import (COCO_AREA_RANGES, TINY_AREA_RANGES,
                         evaluate_tiny_coco, filter_ignored,
                         ignored_region_coverage)
from .metrics import TinyObjectCocoMetric

__all__ = [
    'COCO_AREA_RANGES', 'TINY_AREA_RANGES', 'evaluate_tiny_coco',
    'filter_ignored', 'ignored_region_coverage', 'TinyObjectCocoMetric'
]
