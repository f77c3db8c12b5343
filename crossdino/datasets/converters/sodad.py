"""Convert SODA-D's COCO-style JSON to crossdino's layout.

SODA-D (Cheng et al., "Towards Large-Scale Small Object Detection: Survey
and Benchmarks", TPAMI 2023) ships one COCO-style JSON per split
(``train.json``, ``val.json``, ``test.json``) for images of about
4000 x 3000 px. Its categories are the 9 classes ``people, rider, bicycle,
motor, vehicle, traffic-sign, traffic-light, traffic-camera, warning-cone``
(ids 1..9) plus ``ignore`` (id 10) for regions not to be evaluated.

The conversion:

- images get ids 1.. in ``file_name`` order; width and height are checked
  against the image file header (the file wins; mismatches are counted);
  images that cannot be read are skipped and listed;
- categories are matched **by name**, written as ids 1..9 in the order
  above;
- annotations of the ``ignore`` category, and any annotation with a truthy
  ``ignore`` or ``iscrowd`` flag, become ignored regions
  (``category_id: 0, iscrowd: 1, ignore: 1, sodad_category: <name>``);
- boxes are clipped to the image, empty ones dropped and counted;
- a malformed entry (bad bbox, unknown image or category id) stops the
  conversion with ``"<file>: annotations[<index>] (id <id>): <reason>"``,
  or is skipped and listed with ``strict=False``.

Evaluation note: SODA-D's protocol (CFINet ``tools/img_split/README.md``)
evaluates on the full images with the ``ignore`` annotations removed
(``test_wo_ignore.json``). With crossdino's metrics the same numbers come
from this JSON with ``ignore_overlap_thr=None``; a value like 0.5 instead
also skips detections inside ignored regions (VisDrone-style).

The patch split (800 x 800, stride 650) is
:mod:`crossdino.datasets.converters.patches`.
"""
import json
import math
import warnings
from pathlib import Path
from typing import Tuple

import numpy as np

from .common import (PathLike, SIZE_RANGES, add_skipped, cleanup_rows,
                     clip_xywh, dump_json_atomic, format_skipped,
                     format_table, ignored_region_ann, instance_rows,
                     maybe_tqdm, name_list_rows, size_bucket_counts,
                     size_or_skip)

__all__ = [
    'SODAD_CLASSES', 'SODAD_CATEGORIES', 'SODAD_IGNORE_NAME',
    'build_sodad_coco', 'convert_sodad_split', 'format_sodad_summary'
]

SODAD_CLASSES = ('people', 'rider', 'bicycle', 'motor', 'vehicle',
                 'traffic-sign', 'traffic-light', 'traffic-camera',
                 'warning-cone')
SODAD_CATEGORIES = tuple(
    dict(id=i, name=name) for i, name in enumerate(SODAD_CLASSES, 1))
SODAD_IGNORE_NAME = 'ignore'


def _bbox_problem(bbox) -> str:
    """Why ``bbox`` is not 4 finite numbers with w, h >= 0 ('' if it is)."""
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return f'bbox must be [x, y, w, h], got {bbox!r}'
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
               and math.isfinite(v) for v in bbox):
        return f'bbox must hold 4 finite numbers, got {bbox!r}'
    if bbox[2] < 0 or bbox[3] < 0:
        return f'negative bbox size {bbox[2]}x{bbox[3]}'
    return ''


def build_sodad_coco(ann_file: PathLike,
                     img_dir: PathLike,
                     *,
                     check_images: bool = True,
                     min_size: float = 0.0,
                     strict: bool = True,
                     progress: bool = False) -> Tuple[dict, dict]:
    """Build crossdino's COCO dict from one SODA-D annotation file.

    Args:
        ann_file: SODA-D's ``train.json`` / ``val.json`` / ``test.json``.
        img_dir: folder its ``file_name`` s are relative to.
        check_images: read each image header (size check, unreadable files);
            False trusts the JSON and reads no image.
        min_size: drop boxes whose clipped width or height is
            ``<= min_size`` px.
        strict: raise on a malformed entry; otherwise skip and count it.
        progress: show a tqdm bar.

    Returns:
        tuple: ``(coco, summary)``; see :func:`convert_sodad_split`.

    Raises:
        FileNotFoundError: ``ann_file`` or ``img_dir`` is missing.
        ValueError: a malformed entry with ``strict=True``.
    """
    ann_file, img_dir = Path(ann_file), Path(img_dir)
    if not ann_file.is_file():
        raise FileNotFoundError(
            f'{ann_file} not found: SODA-D annotations are COCO-style JSON '
            'files (Annotations/train.json, val.json, test.json)')
    if check_images and not img_dir.is_dir():
        raise FileNotFoundError(f'{img_dir} not found: the SODA-D images '
                                f'folder that {ann_file.name} refers to')
    with open(ann_file, encoding='utf-8') as f:
        raw = json.load(f)
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(raw.get(key), list):
            raise ValueError(f'{ann_file}: "{key}" must be a list')

    summary = dict(
        ann_file=str(ann_file),
        images=0,
        images_with_objects=0,
        instances=0,
        instances_per_class=dict.fromkeys(SODAD_CLASSES, 0),
        instances_per_size=dict.fromkeys((r[0] for r in SIZE_RANGES), 0),
        ignored_regions=0,
        clipped=0,
        dropped_zero_area=0,
        malformed=0,
        skipped=[],
        size_mismatch=[],
        unreadable=[],
    )

    def fail(where: str, reason: str) -> None:
        message = f'{ann_file}: {where}: {reason}'
        if strict:
            raise ValueError(message)
        add_skipped(summary, [message])

    # categories: raw id -> our id (1..9) or 0 for `ignore`
    cat_map = {}
    for i, cat in enumerate(raw['categories']):
        name = cat.get('name') if isinstance(cat, dict) else None
        if name is not None and 'id' not in cat:
            fail(f'categories[{i}]', f'category {name!r} has no id')
            continue
        if name == SODAD_IGNORE_NAME:
            cat_map[cat['id']] = 0
        elif name in SODAD_CLASSES:
            cat_map[cat['id']] = SODAD_CLASSES.index(name) + 1
        else:
            fail(f'categories[{i}]', f'unknown SODA-D category {name!r} '
                 f'(expected one of {SODAD_CLASSES + (SODAD_IGNORE_NAME, )})')

    raw_images = {}
    for i, img in enumerate(raw['images']):
        missing = [k for k in ('id', 'file_name', 'width', 'height')
                   if not isinstance(img, dict) or k not in img]
        if missing:
            fail(f'images[{i}]', f'missing {missing}')
        elif img['id'] in raw_images:
            fail(f'images[{i}] (id {img["id"]})', 'duplicate image id')
        else:
            raw_images[img['id']] = img

    anns_by_img = {}
    for i, ann in enumerate(raw['annotations']):
        where = f'annotations[{i}] (id {ann.get("id")})' if isinstance(
            ann, dict) else f'annotations[{i}]'
        if not isinstance(ann, dict):
            fail(where, 'not an object')
            continue
        reason = _bbox_problem(ann.get('bbox'))
        if not reason and ann.get('image_id') not in raw_images:
            reason = f'unknown image_id {ann.get("image_id")!r}'
        if not reason and ann.get('category_id') not in cat_map:
            reason = f'unknown category_id {ann.get("category_id")!r}'
        if reason:
            fail(where, reason)
            continue
        anns_by_img.setdefault(ann['image_id'], []).append(ann)

    coco_images, coco_anns = [], []
    object_boxes = []
    class_counts = np.zeros(len(SODAD_CLASSES) + 1, dtype=np.int64)
    ordered = sorted(raw_images.values(), key=lambda im: im['file_name'])
    for img in maybe_tqdm(ordered, len(ordered), ann_file.stem, progress):
        width, height = int(img['width']), int(img['height'])
        if check_images:
            path = img_dir / img['file_name']
            file_wh = size_or_skip(path, img['file_name'],
                                   summary['unreadable'])
            if file_wh is None:
                continue
            if file_wh != (width, height):
                summary['size_mismatch'].append(img['file_name'])
                warnings.warn(f"{path}: file is {file_wh[0]}x{file_wh[1]}, "
                              f'{ann_file.name} says {width}x{height}; '
                              'using the file size')
                width, height = file_wh
        image_id = len(coco_images) + 1
        coco_images.append(
            dict(id=image_id, file_name=img['file_name'], width=width,
                 height=height))
        anns = anns_by_img.get(img['id'], [])
        if not anns:
            continue
        xywh, keep, clipped = clip_xywh([a['bbox'] for a in anns], width,
                                        height, min_size)
        summary['dropped_zero_area'] += int((~keep).sum())
        summary['clipped'] += int((clipped & keep).sum())
        has_object = False
        for ann, box, kept in zip(anns, xywh.tolist(), keep.tolist()):
            if not kept:
                continue
            cat = cat_map[ann['category_id']]
            ann_id = len(coco_anns) + 1
            if cat == 0 or ann.get('ignore') or ann.get('iscrowd'):
                name = (SODAD_IGNORE_NAME if cat == 0 else
                        SODAD_CLASSES[cat - 1])
                coco_anns.append(
                    ignored_region_ann(ann_id, image_id, box,
                                       sodad_category=name))
                summary['ignored_regions'] += 1
                continue
            coco_anns.append(
                dict(id=ann_id, image_id=image_id, category_id=cat, bbox=box,
                     area=box[2] * box[3], iscrowd=0))
            class_counts[cat] += 1
            object_boxes.append(box)
            has_object = True
        summary['images_with_objects'] += has_object

    summary['images'] = len(coco_images)
    for cat, name in enumerate(SODAD_CLASSES, 1):
        summary['instances_per_class'][name] = int(class_counts[cat])
    summary['instances'] = int(class_counts.sum())
    if object_boxes:
        summary['instances_per_size'] = size_bucket_counts(
            np.array(object_boxes))
    coco = dict(
        images=coco_images,
        annotations=coco_anns,
        categories=[dict(c) for c in SODAD_CATEGORIES])
    return coco, summary


def convert_sodad_split(ann_file: PathLike, img_dir: PathLike,
                        out_json: PathLike, **kwargs) -> dict:
    """Convert one SODA-D annotation file to crossdino's COCO JSON.

    Args:
        ann_file: SODA-D's JSON for the split.
        img_dir: folder its ``file_name`` s are relative to.
        out_json: the JSON file to write (atomically).
        **kwargs: see :func:`build_sodad_coco`.

    Returns:
        dict: summary with keys ``ann_file``, ``out_json``, ``images``,
        ``images_with_objects``, ``instances``, ``instances_per_class``,
        ``instances_per_size`` (:data:`SIZE_RANGES`), ``ignored_regions``,
        ``clipped``, ``dropped_zero_area``, ``malformed`` (entries skipped,
        ``strict=False``), ``skipped`` (the first
        :data:`~.common.MAX_SKIPPED` of them, ``"<file>: <entry>:
        <reason>"``), ``size_mismatch`` and ``unreadable`` (file names).
    """
    coco, summary = build_sodad_coco(ann_file, img_dir, **kwargs)
    dump_json_atomic(coco, out_json)
    summary['out_json'] = str(out_json)
    return summary


def format_sodad_summary(summary: dict) -> str:
    """Render a :func:`convert_sodad_split` summary as a text table."""
    rows = instance_rows(summary) + [
        ('ignored regions', str(summary['ignored_regions'])),
    ] + cleanup_rows(summary, 'entries')
    rows += name_list_rows(summary, [
        ('size_mismatch', 'size differs from JSON'),
        ('unreadable', 'unreadable images'),
    ])
    return format_table(f"SODA-D {summary['ann_file']}", rows,
                        summary.get('out_json')) + format_skipped(
                            summary, 'entries')
