# Copyright (c) crossdino contributors. All rights reserved.
"""Framework-free evaluation functions (pycocotools + numpy)."""
from .miss_rate import (FPPI_REFERENCE_POINTS, evaluate_pedestrian,
                        log_average_miss_rate, match_image, pedestrian_curve,
                        voc_all_point_ap)
from .tiny_coco_eval import (BACKENDS, COCO_AREA_RANGES, TINY_AREA_RANGES,
                             cocoeval_class, evaluate_tiny_coco,
                             filter_ignored, ignored_region_coverage)

__all__ = [
    'BACKENDS', 'COCO_AREA_RANGES', 'TINY_AREA_RANGES', 'cocoeval_class',
    'evaluate_tiny_coco',
    'filter_ignored', 'ignored_region_coverage', 'FPPI_REFERENCE_POINTS',
    'evaluate_pedestrian', 'log_average_miss_rate', 'match_image',
    'pedestrian_curve', 'voc_all_point_ap'
]
