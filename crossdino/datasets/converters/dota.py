"""Convert DOTA-v1.5 annotations to horizontal-box COCO JSON.

A DOTA split folder holds one ``.txt`` per image::

    train/
        images/P0001.png
        labelTxt/P0001.txt

A label file may start with two header lines, ``imagesource:<source>`` and
``gsd:<metres per pixel | null>``; every other non-empty line is one object::

    x1 y1 x2 y2 x3 y3 x4 y4 category difficult

(8 polygon coordinates, integers in v1.0 and floats in v1.5, the category
name, and 0/1 for ``difficult``; like the DOTA devkit, a missing
``difficult`` reads as 0). DOTA-v1.5 has 16 categories: v1.0's 15 plus
``container-crane``.

Each polygon becomes the horizontal box of its min/max coordinates, clipped
to the image (DOTA polygons do run past the image edge); boxes left empty are
dropped and counted.

Difficult objects (protocol choice). DOTA's evaluation
(``dota_evaluation_task2.py``) neither rewards nor punishes detections of
``difficult`` objects, and mmrotate trains on all objects by default. So
``difficult_as='object'`` (default) keeps them as objects with
``difficult: 1``, for training; ``difficult_as='ignore'`` writes them as
ignored regions (``category_id: 0, iscrowd: 1, ignore: 1``), which crossdino's
metrics then skip like the DOTA evaluation does (approximately: a detection
is ignored when more than ``ignore_overlap_thr`` of it lies in the region,
instead of DOTA's IoU >= 0.5 match with a difficult box).

Output layout (as every crossdino converter)::

    images:      {id, file_name, width, height[, gsd, imagesource]}
    categories:  {id: 1..16, name}
    annotations: objects {id, image_id, category_id, bbox, area, iscrowd: 0,
                          difficult}
                 ignored {id, image_id, category_id: 0, bbox, area,
                          iscrowd: 1, ignore: 1, difficult: 1,
                          dota_category}
"""
import re
import warnings
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from .common import (IMG_EXTENSIONS, PathLike, SIZE_RANGES, add_skipped,
                     cleanup_rows, clip_xywh, dump_json_atomic,
                     format_skipped, format_table, ignored_region_ann,
                     instance_rows, list_files, maybe_tqdm, name_list_rows,
                     numbered_lines, size_bucket_counts, size_or_skip)

__all__ = [
    'DOTA_V15_CLASSES', 'DOTA_V15_CATEGORIES', 'DIFFICULT_AS',
    'parse_dota_txt', 'polygons_to_xywh', 'build_dota_coco',
    'convert_dota_split', 'format_dota_summary'
]

DOTA_V15_CLASSES = ('plane', 'baseball-diamond', 'bridge',
                    'ground-track-field', 'small-vehicle', 'large-vehicle',
                    'ship', 'tennis-court', 'basketball-court',
                    'storage-tank', 'soccer-ball-field', 'roundabout',
                    'harbor', 'swimming-pool', 'helicopter',
                    'container-crane')
DOTA_V15_CATEGORIES = tuple(
    dict(id=i, name=name) for i, name in enumerate(DOTA_V15_CLASSES, 1))
DIFFICULT_AS = ('object', 'ignore')

_HEADER_RE = re.compile(r'\s*(imagesource|gsd)\s*:(.*)', re.IGNORECASE)
_NUM_RE = re.compile(r'[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?')


class DotaObjects(dict):
    """Parsed label file: ``polygons`` (N, 8) float64, ``categories``
    (N,) int64 (1..16), ``difficult`` (N,) int64, ``header`` dict,
    ``skipped`` list of str."""


def parse_dota_txt(path: PathLike,
                   classes: Tuple[str, ...] = DOTA_V15_CLASSES,
                   strict: bool = True) -> DotaObjects:
    """Parse one DOTA label file.

    Args:
        path: the ``.txt`` file; LF/CRLF, a UTF-8 BOM and empty lines are
            accepted.
        classes: category names; ``categories`` index them from 1.
        strict: raise on a malformed line; otherwise skip it.

    Returns:
        DotaObjects: ``polygons`` (N, 8) float64 in file order,
        ``categories`` (N,) int64 in 1..len(classes), ``difficult`` (N,)
        int64, ``header`` ``{'imagesource': str, 'gsd': float | None}`` (the
        keys found) and ``skipped``: the message of each line skipped
        (``strict=False``), worded as the strict error.

    Raises:
        ValueError: (``strict=True``) a line that is not 8 numbers, a known
            category and an optional 0/1 difficult flag, or a header line
            after the first object. The message reads
            ``"<path>:<line>: <reason>: '<text>'"``.
    """
    cat_index = {name: i for i, name in enumerate(classes, 1)}
    polys: List[List[float]] = []
    cats: List[int] = []
    difficult: List[int] = []
    header: Dict[str, object] = {}
    skipped: List[str] = []
    for lineno, line in numbered_lines(path):
        reason = None
        head = _HEADER_RE.fullmatch(line)
        if head is not None:
            key, value = head.group(1).lower(), head.group(2).strip()
            if polys or skipped:
                reason = f'header line {key!r} after the first object'
            elif key == 'gsd':
                if value.lower() in ('null', 'none', ''):
                    header['gsd'] = None
                elif _NUM_RE.fullmatch(value):
                    header['gsd'] = float(value)
                else:
                    reason = f'gsd is not a number: {value!r}'
            else:
                header['imagesource'] = value
            if reason is None:
                continue
        else:
            fields = line.split()
            if len(fields) not in (9, 10):
                reason = (f'expected 8 coordinates, a category and a '
                          f'difficult flag, got {len(fields)} fields')
            else:
                bad = [v for v in fields[:8] if not _NUM_RE.fullmatch(v)]
                flag = fields[9] if len(fields) == 10 else '0'
                if bad:
                    reason = f'non-numeric coordinate {bad[0]!r}'
                elif fields[8] not in cat_index:
                    reason = f'unknown category {fields[8]!r}'
                elif flag not in ('0', '1'):
                    reason = f'difficult must be 0 or 1, got {flag!r}'
                else:
                    polys.append([float(v) for v in fields[:8]])
                    cats.append(cat_index[fields[8]])
                    difficult.append(int(flag))
                    continue
        message = f'{path}:{lineno}: {reason}: {line.strip()!r}'
        if strict:
            raise ValueError(message)
        skipped.append(message)
    return DotaObjects(
        polygons=np.array(polys, dtype=np.float64).reshape(-1, 8),
        categories=np.array(cats, dtype=np.int64),
        difficult=np.array(difficult, dtype=np.int64),
        header=header,
        skipped=skipped)


def polygons_to_xywh(polygons: np.ndarray) -> np.ndarray:
    """(N, 8) polygons -> (N, 4) ``[x, y, w, h]`` of their min/max box."""
    pts = np.asarray(polygons, dtype=np.float64).reshape(-1, 4, 2)
    lo, hi = pts.min(axis=1), pts.max(axis=1)
    return np.concatenate([lo, hi - lo], axis=1)


def build_dota_coco(split_dir: PathLike,
                    *,
                    difficult_as: str = 'object',
                    min_size: float = 0.0,
                    strict: bool = True,
                    labels_required: bool = True,
                    progress: bool = False) -> Tuple[dict, dict]:
    """Build the horizontal-box COCO dict of one DOTA-v1.5 split.

    Args:
        split_dir: folder holding ``images/`` and ``labelTxt/``.
        difficult_as: ``'object'`` or ``'ignore'`` (see the module
            docstring).
        min_size: drop boxes whose clipped width or height is
            ``<= min_size`` px.
        strict: raise on malformed lines; otherwise skip and count them.
        labels_required: fail when ``labelTxt/`` is missing; False converts
            an unlabelled split (DOTA test) to images only.
        progress: show a tqdm bar.

    Returns:
        tuple: ``(coco, summary)``; see :func:`convert_dota_split`.

    Raises:
        FileNotFoundError: ``images/`` (or a required ``labelTxt/``) is
            missing.
        ValueError: a malformed line with ``strict=True``, or a bad
            ``difficult_as``.
    """
    if difficult_as not in DIFFICULT_AS:
        raise ValueError(f'difficult_as must be one of {DIFFICULT_AS}, got '
                         f'{difficult_as!r}')
    split_dir = Path(split_dir)
    img_dir, ann_dir = split_dir / 'images', split_dir / 'labelTxt'
    required = (img_dir, ann_dir) if labels_required else (img_dir, )
    for folder in required:
        if not folder.is_dir():
            raise FileNotFoundError(
                f'{folder} not found: a DOTA split folder must hold '
                f'images/*.png and labelTxt/*.txt (one .txt per image, same '
                f'stem), e.g. DOTA-v1.5/train/images and '
                f'DOTA-v1.5/train/labelTxt')
    images = list_files(img_dir, IMG_EXTENSIONS)
    txts = list_files(ann_dir, ('.txt', )) if ann_dir.is_dir() else {}

    summary = dict(
        split_dir=str(split_dir),
        images=0,
        images_with_objects=0,
        instances=0,
        instances_per_class=dict.fromkeys(DOTA_V15_CLASSES, 0),
        instances_per_size=dict.fromkeys((r[0] for r in SIZE_RANGES), 0),
        difficult=0,
        difficult_as=difficult_as,
        ignored_regions=0,
        clipped=0,
        dropped_zero_area=0,
        malformed=0,
        skipped=[],
        unreadable=[],
        missing_labels=[],
        orphan_annotations=sorted(txts.keys() - images.keys()),
    )
    for stem in summary['orphan_annotations']:
        warnings.warn(f'{txts[stem]}: label file without an image in '
                      f'{img_dir}, skipped')

    coco_images, coco_anns = [], []
    class_counts = np.zeros(len(DOTA_V15_CLASSES) + 1, dtype=np.int64)
    object_boxes = []
    for stem, img_path in maybe_tqdm(images.items(), len(images),
                                      split_dir.name, progress):
        size = size_or_skip(img_path, img_path.name, summary['unreadable'])
        if size is None:
            continue
        width, height = size
        image_id = len(coco_images) + 1
        img_info = dict(
            id=image_id,
            file_name=img_path.relative_to(img_dir).as_posix(),
            width=width,
            height=height)
        coco_images.append(img_info)
        if stem not in txts:
            if labels_required:
                summary['missing_labels'].append(img_path.name)
            continue
        parsed = parse_dota_txt(txts[stem], strict=strict)
        img_info.update(parsed['header'])
        add_skipped(summary, parsed['skipped'])

        xywh, keep, clipped = clip_xywh(
            polygons_to_xywh(parsed['polygons']), width, height, min_size)
        summary['dropped_zero_area'] += int((~keep).sum())
        summary['clipped'] += int((clipped & keep).sum())
        xywh = xywh[keep]
        cats = parsed['categories'][keep]
        diff = parsed['difficult'][keep]
        is_obj = (diff == 0) | (difficult_as == 'object')
        class_counts += np.bincount(cats[is_obj], minlength=class_counts.size)
        object_boxes.append(xywh[is_obj])
        summary['difficult'] += int(diff.sum())
        summary['ignored_regions'] += int((~is_obj).sum())
        summary['images_with_objects'] += bool(is_obj.any())

        for box, cat, dif, obj in zip(xywh.tolist(), cats.tolist(),
                                      diff.tolist(), is_obj.tolist()):
            ann_id = len(coco_anns) + 1
            if obj:
                coco_anns.append(
                    dict(
                        id=ann_id,
                        image_id=image_id,
                        category_id=cat,
                        bbox=box,
                        area=box[2] * box[3],
                        iscrowd=0,
                        difficult=dif))
            else:
                coco_anns.append(
                    ignored_region_ann(
                        ann_id, image_id, box, difficult=dif,
                        dota_category=DOTA_V15_CLASSES[cat - 1]))

    summary['images'] = len(coco_images)
    for cat, name in enumerate(DOTA_V15_CLASSES, 1):
        summary['instances_per_class'][name] = int(class_counts[cat])
    summary['instances'] = int(class_counts.sum())
    if object_boxes:
        summary['instances_per_size'] = size_bucket_counts(
            np.concatenate(object_boxes))
    for name in summary['missing_labels']:
        warnings.warn(f'{img_dir / name}: no label file in {ann_dir}, '
                      'kept as an image without objects')

    coco = dict(
        images=coco_images,
        annotations=coco_anns,
        categories=[dict(c) for c in DOTA_V15_CATEGORIES])
    return coco, summary


def convert_dota_split(split_dir: PathLike,
                       out_json: PathLike,
                       **kwargs) -> dict:
    """Convert one DOTA-v1.5 split folder to a COCO JSON file.

    Args:
        split_dir: folder holding ``images/`` and ``labelTxt/``.
        out_json: the JSON file to write (atomically; parents are created).
        **kwargs: see :func:`build_dota_coco`.

    Returns:
        dict: summary with keys ``split_dir``, ``out_json``, ``images``,
        ``images_with_objects``, ``instances`` (objects written),
        ``instances_per_class``, ``instances_per_size`` (over
        :data:`SIZE_RANGES`), ``difficult`` (difficult objects kept after
        clipping),
        ``difficult_as``, ``ignored_regions`` (difficult objects written as
        ignored regions), ``clipped`` (kept boxes clipped to the image),
        ``dropped_zero_area``, ``malformed`` (lines skipped), ``skipped``
        (the first :data:`~.common.MAX_SKIPPED` of them, ``"<file>:<line>:
        <reason>: '<text>'"``),
        ``unreadable``, ``missing_labels`` (images without a label file,
        kept without objects) and ``orphan_annotations`` (label files
        without an image).
    """
    coco, summary = build_dota_coco(split_dir, **kwargs)
    dump_json_atomic(coco, out_json)
    summary['out_json'] = str(out_json)
    return summary


def format_dota_summary(summary: dict) -> str:
    """Render a :func:`convert_dota_split` summary as a text table."""
    rows = instance_rows(summary) + [
        ('difficult objects', f"{summary['difficult']} (written as "
         f"{summary['difficult_as']}s)"),
        ('ignored regions', str(summary['ignored_regions'])),
    ] + cleanup_rows(summary)
    rows += name_list_rows(summary, [
        ('unreadable', 'unreadable images'),
        ('missing_labels', 'images without label file'),
        ('orphan_annotations', 'labels without image'),
    ])
    return format_table(f"DOTA-v1.5 {summary['split_dir']}", rows,
                        summary.get('out_json')) + format_skipped(summary)
