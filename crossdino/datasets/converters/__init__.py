"""Dataset converters to the COCO JSON layout crossdino trains on.

They depend on numpy and PIL only, so data can be prepared without the
mmdetection stack.
"""
from .visdrone import (IGNORED_VISDRONE_CATEGORIES, SIZE_RANGES,
                       VISDRONE_CATEGORIES, VISDRONE_CLASSES,
                       build_visdrone_coco, convert_visdrone_split,
                       dump_json_atomic, format_summary, parse_visdrone_txt)

__all__ = [
    'VISDRONE_CLASSES', 'VISDRONE_CATEGORIES', 'IGNORED_VISDRONE_CATEGORIES',
    'SIZE_RANGES', 'parse_visdrone_txt', 'build_visdrone_coco',
    'convert_visdrone_split', 'dump_json_atomic', 'format_summary'
]
