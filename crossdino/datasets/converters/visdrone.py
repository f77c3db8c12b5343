"""Convert VisDrone2019-DET annotations to COCO JSON.

The official release stores one ``.txt`` per image next to an ``images/``
folder::

    VisDrone2019-DET-val/
        images/0000001_02999_d_0000005.jpg
        annotations/0000001_02999_d_0000005.txt

Each non-empty line of a ``.txt`` is one box, 8 integers::

    bbox_left,bbox_top,bbox_width,bbox_height,score,object_category,
    truncation,occlusion     (on one line)

Categories 1..10 are objects. Category 0 ("ignored region") and 11
("others") carry no class: both become COCO *ignored regions*
(``category_id=0, iscrowd=1, ignore=1``). ``category_id`` 0 is absent from
``categories``, so pycocotools' ``COCOeval`` and mmdet's ``CocoDataset`` skip
them, while crossdino's dataset and metric read them back.

Output format (other parts of crossdino depend on it)::

    images:      {id, file_name, width, height}       ids 1.. by file name
    categories:  {id: 1..10, name}
    annotations: objects  {id, image_id, category_id, bbox, area, iscrowd: 0,
                           truncation, occlusion}
                 ignored  {id, image_id, category_id: 0, bbox, area,
                           iscrowd: 1, ignore: 1, visdrone_category: 0 | 11}

Boxes are ``[x, y, w, h]`` floats clipped to the image, ``area = w * h``.
"""
import re
import warnings
from pathlib import Path
from typing import List, Tuple

import numpy as np

from .common import (IMG_EXTENSIONS, PathLike, SIZE_RANGES, add_skipped,
                     cleanup_rows, clip_xywh, dump_json_atomic,
                     format_skipped, format_table, instance_rows, list_files,
                     maybe_tqdm, name_list_rows, numbered_lines,
                     size_bucket_counts, size_or_skip)

__all__ = [
    'VISDRONE_CLASSES', 'VISDRONE_CATEGORIES', 'IGNORED_VISDRONE_CATEGORIES',
    'SIZE_RANGES', 'IMG_EXTENSIONS', 'parse_visdrone_txt',
    'build_visdrone_coco', 'convert_visdrone_split', 'dump_json_atomic',
    'format_summary'
]

VISDRONE_CLASSES = ('pedestrian', 'people', 'bicycle', 'car', 'van', 'truck',
                    'tricycle', 'awning-tricycle', 'bus', 'motor')
VISDRONE_CATEGORIES = tuple(
    dict(id=i, name=name) for i, name in enumerate(VISDRONE_CLASSES, 1))
# 0: "ignored region", 11: "others"; neither is evaluated.
IGNORED_VISDRONE_CATEGORIES = (0, 11)
MAX_VISDRONE_CATEGORY = 11

NUM_FIELDS = 8
# 8 integers; a trailing comma and surrounding whitespace (including the
# '\r' of CRLF files) occur in the official files and are accepted.
_LINE_RE = re.compile(
    r'\s*' + r'\s*,\s*'.join([r'([+-]?\d+)'] * NUM_FIELDS) + r'\s*,?\s*',
    re.ASCII)
_INT_RE = re.compile(r'\s*[+-]?\d+\s*', re.ASCII)


def _describe_bad_line(line: str) -> str:
    """Say why ``line`` is not 8 comma-separated integers."""
    fields = line.strip().split(',')
    if len(fields) > 1 and not fields[-1].strip():
        fields = fields[:-1]  # tolerated trailing comma
    if len(fields) != NUM_FIELDS:
        return (f'expected {NUM_FIELDS} comma-separated integers, '
                f'got {len(fields)} fields')
    bad = [f.strip() for f in fields if not _INT_RE.fullmatch(f)]
    return (f'expected {NUM_FIELDS} comma-separated integers, '
            f'non-integer field {bad[0] if bad else line.strip()!r}')


def parse_visdrone_txt(path: PathLike,
                       strict: bool = True) -> Tuple[np.ndarray, List[str]]:
    """Parse one VisDrone-DET annotation file.

    Args:
        path: the ``.txt`` file. LF and CRLF line endings, a UTF-8 BOM,
            trailing commas and empty lines are accepted.
        strict: raise on a malformed line; otherwise skip it.

    Returns:
        tuple: ``(rows, skipped)`` where ``rows`` is an int64 array of
        shape (N, 8) with columns ``left, top, width, height, score,
        category, truncation, occlusion`` in file order, and ``skipped``
        the message of each line skipped (``strict=False``), worded as the
        strict error.

    Raises:
        ValueError: (``strict=True``) on a line that is not 8 integers, has a
            category outside 0..11 or a negative width/height. The message
            reads ``"<path>:<line>: <reason>: '<text>'"``.
    """
    rows: List[Tuple[int, ...]] = []
    skipped: List[str] = []
    for lineno, line in numbered_lines(path):
        match = _LINE_RE.fullmatch(line)
        if match is None:
            reason = _describe_bad_line(line)
        else:
            row = tuple(int(v) for v in match.groups())
            if not 0 <= row[5] <= MAX_VISDRONE_CATEGORY:
                reason = (f'object_category {row[5]} outside '
                          f'0..{MAX_VISDRONE_CATEGORY}')
            elif row[2] < 0 or row[3] < 0:
                reason = f'negative bbox size {row[2]}x{row[3]}'
            else:
                rows.append(row)
                continue
        message = f'{path}:{lineno}: {reason}: {line.strip()!r}'
        if strict:
            raise ValueError(message)
        skipped.append(message)
    return np.array(rows, dtype=np.int64).reshape(-1, NUM_FIELDS), skipped


def build_visdrone_coco(split_dir: PathLike,
                        *,
                        min_size: float = 0.0,
                        strict: bool = True,
                        progress: bool = False) -> Tuple[dict, dict]:
    """Build the COCO dict of one VisDrone-DET split in memory.

    Args:
        split_dir: folder holding ``images/`` and ``annotations/``.
        min_size: drop boxes whose clipped width or height is ``<= min_size``
            pixels (0 drops only empty boxes).
        strict: raise on malformed lines (see :func:`parse_visdrone_txt`);
            otherwise skip and count them.
        progress: show a tqdm bar when tqdm is installed.

    Returns:
        tuple: ``(coco, summary)``; see the module docstring for ``coco`` and
        :func:`convert_visdrone_split` for ``summary``.

    Raises:
        FileNotFoundError: ``images/`` or ``annotations/`` is missing.
        ValueError: a malformed line with ``strict=True``.
    """
    split_dir = Path(split_dir)
    img_dir, ann_dir = split_dir / 'images', split_dir / 'annotations'
    for folder in (img_dir, ann_dir):
        if not folder.is_dir():
            raise FileNotFoundError(
                f'{folder} not found: a VisDrone-DET split folder must hold '
                f'images/*.jpg and annotations/*.txt (one .txt per image, '
                f'same stem), e.g. VisDrone2019-DET-val/images and '
                f'VisDrone2019-DET-val/annotations')
    images = list_files(img_dir, IMG_EXTENSIONS)
    txts = list_files(ann_dir, ('.txt', ))

    summary = dict(
        split_dir=str(split_dir),
        images=0,
        images_with_objects=0,
        instances=0,
        instances_per_class=dict.fromkeys(VISDRONE_CLASSES, 0),
        ignored_regions=0,
        ignored_regions_per_category=dict.fromkeys(
            IGNORED_VISDRONE_CATEGORIES, 0),
        instances_per_size=dict.fromkeys((r[0] for r in SIZE_RANGES), 0),
        clipped=0,
        dropped_zero_area=0,
        malformed=0,
        skipped=[],
        unreadable=[],
        orphan_annotations=sorted(txts.keys() - images.keys()),
    )
    for stem in summary['orphan_annotations']:
        warnings.warn(f'{txts[stem]}: annotation file without an image in '
                      f'{img_dir}, skipped')

    coco_images, coco_anns = [], []
    class_counts = np.zeros(MAX_VISDRONE_CATEGORY + 1, dtype=np.int64)
    object_boxes = []
    for stem, img_path in maybe_tqdm(images.items(), len(images),
                                      split_dir.name, progress):
        size = size_or_skip(img_path, img_path.name, summary['unreadable'])
        if size is None:
            continue
        width, height = size
        image_id = len(coco_images) + 1
        coco_images.append(
            dict(
                id=image_id,
                file_name=img_path.relative_to(img_dir).as_posix(),
                width=width,
                height=height))
        if stem not in txts:  # no .txt: an image without objects
            continue
        rows, skipped = parse_visdrone_txt(txts[stem], strict=strict)
        add_skipped(summary, skipped)

        xywh, keep, clipped = clip_xywh(rows[:, :4], width, height, min_size)
        summary['dropped_zero_area'] += int((~keep).sum())
        summary['clipped'] += int((clipped & keep).sum())
        rows, xywh = rows[keep], xywh[keep]
        cats = rows[:, 5]
        is_obj = ~np.isin(cats, IGNORED_VISDRONE_CATEGORIES)
        class_counts += np.bincount(cats, minlength=class_counts.size)
        object_boxes.append(xywh[is_obj])
        summary['images_with_objects'] += bool(is_obj.any())

        for row, box, obj in zip(rows.tolist(), xywh.tolist(),
                                 is_obj.tolist()):
            ann = dict(
                id=len(coco_anns) + 1,
                image_id=image_id,
                category_id=row[5] if obj else 0,
                bbox=box,
                area=box[2] * box[3])
            if obj:
                ann.update(iscrowd=0, truncation=row[6], occlusion=row[7])
            else:
                ann.update(iscrowd=1, ignore=1, visdrone_category=row[5])
            coco_anns.append(ann)

    summary['images'] = len(coco_images)
    for cat, name in enumerate(VISDRONE_CLASSES, 1):
        summary['instances_per_class'][name] = int(class_counts[cat])
    summary['instances'] = sum(summary['instances_per_class'].values())
    for cat in IGNORED_VISDRONE_CATEGORIES:
        summary['ignored_regions_per_category'][cat] = int(class_counts[cat])
    summary['ignored_regions'] = int(
        class_counts[list(IGNORED_VISDRONE_CATEGORIES)].sum())
    if object_boxes:
        summary['instances_per_size'] = size_bucket_counts(
            np.concatenate(object_boxes))

    coco = dict(
        images=coco_images,
        annotations=coco_anns,
        categories=[dict(c) for c in VISDRONE_CATEGORIES])
    return coco, summary


def convert_visdrone_split(split_dir: PathLike,
                           out_json: PathLike,
                           *,
                           min_size: float = 0.0,
                           strict: bool = True,
                           progress: bool = False) -> dict:
    """Convert one VisDrone-DET split folder to a COCO JSON file.

    Args:
        split_dir: folder holding ``images/`` and ``annotations/``.
        out_json: the JSON file to write (parent folders are created).
        min_size: drop boxes whose clipped width or height is ``<= min_size``.
        strict: raise ``ValueError`` on a malformed line; with ``False`` the
            line is skipped and counted in ``summary['malformed']``.
        progress: show a tqdm bar when tqdm is installed.

    Returns:
        dict: summary with keys

        - ``split_dir``, ``out_json``: the paths, as str.
        - ``images``: images written; ``images_with_objects``: those with at
          least one object (ignored regions do not count).
        - ``instances``: objects written; ``instances_per_class``:
          ``{class name: count}``; ``instances_per_size``: ``{range name:
          count}`` over :data:`SIZE_RANGES` (sqrt of the clipped box area).
        - ``ignored_regions``: ignored regions written;
          ``ignored_regions_per_category``: ``{0: n, 11: n}``.
        - ``clipped``: kept boxes that were clipped to the image;
          ``dropped_zero_area``: boxes dropped for an empty (``<= min_size``)
          clipped width or height; ``malformed``: lines skipped
          (``strict=False`` only), ``skipped``: the first
          :data:`~.common.MAX_SKIPPED` of them as ``"<file>:<line>:
          <reason>: '<text>'"``.
        - ``unreadable``: image file names skipped because their header could
          not be read; ``orphan_annotations``: stems of ``.txt`` files
          without an image. Both are also reported with ``warnings.warn``.
    """
    coco, summary = build_visdrone_coco(
        split_dir, min_size=min_size, strict=strict, progress=progress)
    dump_json_atomic(coco, out_json)
    summary['out_json'] = str(out_json)
    return summary


def format_summary(summary: dict) -> str:
    """Render a :func:`convert_visdrone_split` summary as a text table."""
    ignored = summary['ignored_regions_per_category']
    rows = instance_rows(summary) + [
        ('ignored regions', f"{summary['ignored_regions']} (category 0: "
         f'{ignored.get(0, 0)}, 11 others: {ignored.get(11, 0)})'),
    ] + cleanup_rows(summary)
    rows += name_list_rows(summary, [
        ('unreadable', 'unreadable images'),
        ('orphan_annotations', 'annotations without image'),
    ])

    return format_table(f"VisDrone-DET {summary['split_dir']}", rows,
                        summary.get('out_json')) + format_skipped(summary)
