"""Dataset converters to the COCO JSON layout crossdino trains on.

They depend on numpy and PIL only, so data can be prepared without the
mmdetection stack.
"""
from .coco_check import check_coco_file, format_coco_report, validate_coco
from .common import (IMG_EXTENSIONS, SIZE_RANGES, clip_xywh, dump_json_atomic,
                     format_table, ignored_region_ann, list_files, maybe_tqdm,
                     read_image_size, size_bucket_counts)
from .dota import (DOTA_V15_CLASSES, build_dota_coco, convert_dota_split,
                   format_dota_summary, parse_dota_txt)
from .nwpu_vhr10 import (NWPU_VHR10_CLASSES, build_nwpu_vhr10_coco,
                         convert_nwpu_vhr10, format_nwpu_summary,
                         parse_nwpu_txt, split_coco)
from .patches import (PATCH_PRESETS, build_patch_coco, format_patch_summary,
                      sliding_windows, split_coco_file, split_dataset_split,
                      window_starts)
from .sodad import (SODAD_CLASSES, build_sodad_coco, convert_sodad_split,
                    format_sodad_summary)
from .visdrone import (IGNORED_VISDRONE_CATEGORIES, VISDRONE_CATEGORIES,
                       VISDRONE_CLASSES, build_visdrone_coco,
                       convert_visdrone_split, format_summary,
                       parse_visdrone_txt)
from .widerperson import (WIDERPERSON_LABELS, build_widerperson_coco,
                          convert_widerperson_split,
                          format_widerperson_summary, parse_widerperson_txt)

__all__ = [
    # shared
    'IMG_EXTENSIONS', 'SIZE_RANGES', 'clip_xywh', 'dump_json_atomic',
    'format_table', 'ignored_region_ann', 'list_files', 'maybe_tqdm',
    'read_image_size', 'size_bucket_counts',
    # VisDrone
    'VISDRONE_CLASSES', 'VISDRONE_CATEGORIES', 'IGNORED_VISDRONE_CATEGORIES',
    'parse_visdrone_txt', 'build_visdrone_coco', 'convert_visdrone_split',
    'format_summary',
    # COCO JSON (AI-TOD, COCO)
    'validate_coco', 'check_coco_file', 'format_coco_report',
    # NWPU VHR-10
    'NWPU_VHR10_CLASSES', 'parse_nwpu_txt', 'build_nwpu_vhr10_coco',
    'split_coco', 'convert_nwpu_vhr10', 'format_nwpu_summary',
    # WiderPerson
    'WIDERPERSON_LABELS', 'parse_widerperson_txt', 'build_widerperson_coco',
    'convert_widerperson_split', 'format_widerperson_summary',
    # DOTA-v1.5, SODA-D and their patch split
    'DOTA_V15_CLASSES', 'parse_dota_txt', 'build_dota_coco',
    'convert_dota_split', 'format_dota_summary', 'SODAD_CLASSES',
    'build_sodad_coco', 'convert_sodad_split', 'format_sodad_summary',
    'PATCH_PRESETS', 'window_starts', 'sliding_windows', 'build_patch_coco',
    'split_coco_file', 'split_dataset_split', 'format_patch_summary'
]
