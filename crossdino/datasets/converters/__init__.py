"""Dataset converters to the COCO JSON layout crossdino trains on.

They depend on numpy and PIL only, so data can be prepared without the
mmdetection stack.
"""
from .common import (IMG_EXTENSIONS, SIZE_RANGES, clip_xywh, dump_json_atomic,
                     format_table, ignored_region_ann, list_files, maybe_tqdm,
                     read_image_size, size_bucket_counts)
from .visdrone import (IGNORED_VISDRONE_CATEGORIES, VISDRONE_CATEGORIES,
                       VISDRONE_CLASSES, build_visdrone_coco,
                       convert_visdrone_split, format_summary,
                       parse_visdrone_txt)

__all__ = [
    'IMG_EXTENSIONS', 'SIZE_RANGES', 'clip_xywh', 'dump_json_atomic',
    'format_table', 'ignored_region_ann', 'list_files', 'maybe_tqdm',
    'read_image_size', 'size_bucket_counts', 'VISDRONE_CLASSES',
    'VISDRONE_CATEGORIES', 'IGNORED_VISDRONE_CATEGORIES',
    'parse_visdrone_txt', 'build_visdrone_coco', 'convert_visdrone_split',
    'format_summary'
]
