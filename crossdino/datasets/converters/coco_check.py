"""Validate (and optionally clean) any COCO detection JSON.

Datasets released as COCO JSON (AI-TOD, COCO itself, SODA-D's JSON, the
output of crossdino's converters) are checked with :func:`validate_coco`
before training: duplicate ids, images without a usable size, annotations
pointing to unknown images or categories, malformed or out-of-image boxes,
images whose file is missing or (optionally) does not decode. The report
carries the same per-size buckets as the converters' summaries, and
:func:`check_coco_file` can write a cleaned copy: boxes clipped to the
image, invalid entries dropped, everything counted.

Ignored regions (an annotation whose ``category_id`` is not listed in
``categories`` and that has ``ignore`` or ``iscrowd`` set; crossdino writes
``category_id: 0``, see :mod:`.common`) are valid, as crossdino's metrics
read them.
"""
import json
import math
import numbers
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from .common import (SIZE_RANGES, PathLike, clip_xywh, dump_json_atomic,
                     format_table, image_decode_error, instance_rows,
                     maybe_tqdm, preview, size_bucket_counts)

__all__ = [
    'ISSUE_KINDS', 'validate_coco', 'check_coco_file', 'format_coco_report'
]

# Problems that make the file unusable as is, in the order reported. The
# fixed copy drops or repairs each of them.
ISSUE_KINDS = {
    'duplicate_category_id': 'categories with a duplicate id (dropped)',
    'duplicate_image_id': 'images with a duplicate id (dropped)',
    'bad_image_size': 'images without a positive width/height (dropped)',
    'missing_file': 'images whose file is missing (dropped)',
    'undecodable_file': 'images whose file does not decode (dropped)',
    'duplicate_ann_id': 'annotations with a duplicate id (renumbered)',
    'unknown_image': 'annotations of an unknown image (dropped)',
    'of_dropped_image': 'annotations of a dropped image (dropped)',
    'unknown_category': 'annotations of an unknown category (dropped)',
    'bad_bbox': 'bbox not 4 finite numbers (dropped)',
    'negative_size': 'bbox with negative width/height (dropped)',
    'zero_area': 'bbox empty after clipping (dropped)',
    'clipped': 'bbox crossing the image border (clipped)',
    'bad_area': 'area missing or not positive (recomputed as w * h)',
}
MAX_MESSAGES = 20


def _is_number(v) -> bool:
    return (isinstance(v, numbers.Real) and not isinstance(v, bool)
            and math.isfinite(v))


def _is_ignored(ann: dict, cat_ids) -> bool:
    """An ignored region: a category outside ``categories`` (crossdino
    writes 0) with ``ignore`` or ``iscrowd`` set, as the metrics read it."""
    return ann.get('category_id') not in cat_ids and bool(
        ann.get('ignore') or ann.get('iscrowd'))


def validate_coco(coco: dict,
                  img_dir: Optional[PathLike] = None,
                  *,
                  decode: bool = False,
                  min_size: float = 0.0,
                  source: str = '<coco>',
                  progress: bool = False) -> Tuple[dict, dict]:
    """Check a COCO detection dict and build a cleaned copy.

    Args:
        coco: the loaded JSON: ``images``, ``annotations``, ``categories``.
        img_dir: when given, ``img_dir / file_name`` must exist for each
            image; images whose file is missing are reported and dropped.
        decode: also decode every image file in ``img_dir`` (slow: all
            pixels are read); empty, truncated or corrupt files are
            reported and dropped. Training would stop at such a file.
        min_size: boxes whose clipped width or height is ``<= min_size`` are
            dropped as ``zero_area`` (0 drops only empty boxes).
        source: name used in messages (the file path).
        progress: show a tqdm bar over annotations.

    Returns:
        tuple: ``(fixed, report)``. ``fixed`` is a new COCO dict (other
        top-level keys kept) with every issue of :data:`ISSUE_KINDS`
        repaired or dropped: annotations of dropped images are dropped with
        them, clipped boxes get ``area = w * h``, annotation ids are
        renumbered 1.. only when duplicates exist. ``report`` holds

        - ``source``, ``images``, ``annotations``, ``categories``: input
          counts; ``kept_images``, ``kept_annotations``: counts in ``fixed``.
        - ``issues``: ``{kind: count}`` for every kind of
          :data:`ISSUE_KINDS`; ``num_issues``: their sum; ``messages``: the
          first :data:`MAX_MESSAGES` problems, each naming the entry as
          ``"<source>: annotations[<index>] (id <id>): <reason>"``.
        - ``undecodable_files``: ``"<path>: <reason>"`` of the first
          :data:`MAX_MESSAGES` files that do not decode (``decode=True``),
          listed apart from ``messages`` so that they are never crowded
          out by box problems.
        - ``instances``, ``instances_per_class``, ``instances_per_size``
          (:data:`SIZE_RANGES`, kept object boxes), ``ignored_regions``,
          ``images_without_annotations`` (kept images without a kept object
          or ignored region) and ``empty_image_names`` (their first names).
        - ``sub_pixel_objects``: kept objects under 1 px wide or high, which
          mmdet's ``CocoDataset`` leaves out of training (they still count
          as ground truth in evaluation).
        - ``category_zero``: a category has id 0. Valid COCO, but
          crossdino's ``IgnoredRegionsCocoDataset`` reads ``category_id`` 0
          as an ignored region: load such files with mmdet's ``CocoDataset``.

    Raises:
        ValueError: ``coco`` is not a dict with list-valued ``images``,
            ``annotations`` and ``categories``.
    """
    if not isinstance(coco, dict):
        raise ValueError(f'{source}: top level must be a JSON object, got '
                         f'{type(coco).__name__}')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(coco.get(key), list):
            raise ValueError(f'{source}: "{key}" must be a list, got '
                             f'{type(coco.get(key)).__name__}')
    issues = dict.fromkeys(ISSUE_KINDS, 0)
    messages: List[str] = []

    def report(kind: str, where: str, reason: str) -> None:
        issues[kind] += 1
        if len(messages) < MAX_MESSAGES:
            messages.append(f'{source}: {where}: {reason}')

    categories, cat_names = [], {}
    for i, cat in enumerate(coco['categories']):
        cid = cat.get('id') if isinstance(cat, dict) else None
        if cid in cat_names or not isinstance(cid, int):
            report('duplicate_category_id', f'categories[{i}]',
                   f'id {cid!r} repeated or not an integer')
            continue
        cat_names[cid] = str(cat.get('name', cid))
        categories.append(cat)

    images: Dict[int, dict] = {}
    dropped_images, seen_images = set(), set()
    undecodable: List[str] = []
    for i, img in maybe_tqdm(enumerate(coco['images']), len(coco['images']),
                             'decoding images', progress and decode):
        iid = img.get('id') if isinstance(img, dict) else None
        where = f'images[{i}] (id {iid!r})'
        # against every id seen: a repeat of a dropped image is a repeat too
        if iid in seen_images or iid is None:
            report('duplicate_image_id', where, 'id repeated or missing')
            continue
        seen_images.add(iid)
        dropped_images.add(iid)
        w, h = img.get('width'), img.get('height')
        if not (_is_number(w) and _is_number(h) and w > 0 and h > 0):
            report('bad_image_size', where,
                   f'width/height {w!r}x{h!r} not positive numbers')
            continue
        path = None if img_dir is None else Path(img_dir) / str(
            img.get('file_name', ''))
        if path is not None and not path.is_file():
            report('missing_file', where,
                   f"file {img.get('file_name')!r} not in {img_dir}")
            continue
        reason = (image_decode_error(path)
                  if decode and path is not None else '')
        if reason:
            issues['undecodable_file'] += 1
            if len(undecodable) < MAX_MESSAGES:
                undecodable.append(f'{path}: {reason}')
            continue
        dropped_images.discard(iid)
        images[iid] = img

    anns_in = coco['annotations']
    ann_ids = [a.get('id') if isinstance(a, dict) else None for a in anns_in]
    seen, renumber = set(), False
    for i, aid in enumerate(ann_ids):
        if aid is None or aid in seen:
            report('duplicate_ann_id', f'annotations[{i}] (id {aid!r})',
                   'id repeated or missing')
            renumber = True
        seen.add(aid)

    kept: List[dict] = []
    object_boxes, per_class = [], dict.fromkeys(cat_names.values(), 0)
    ignored = sub_pixel = 0
    annotated = set()
    for i, ann in maybe_tqdm(enumerate(anns_in), len(anns_in), 'annotations',
                             progress, unit='ann'):
        where = f'annotations[{i}] (id {ann_ids[i]!r})'
        if not isinstance(ann, dict):
            report('bad_bbox', where, 'not a JSON object')
            continue
        if ann.get('image_id') in dropped_images:
            report('of_dropped_image', where,
                   f"image_id {ann.get('image_id')!r} was dropped")
            continue
        if ann.get('image_id') not in images:
            report('unknown_image', where, f"image_id {ann.get('image_id')!r}"
                   ' not among the images')
            continue
        is_ignored = _is_ignored(ann, cat_names)
        if not is_ignored and ann.get('category_id') not in cat_names:
            report('unknown_category', where,
                   f"category_id {ann.get('category_id')!r} not in "
                   'categories')
            continue
        bbox = ann.get('bbox')
        if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4
                and all(_is_number(v) for v in bbox)):
            report('bad_bbox', where, f'bbox {bbox!r} is not 4 finite numbers')
            continue
        if bbox[2] < 0 or bbox[3] < 0:
            report('negative_size', where, f'bbox {list(bbox)} has a '
                   'negative width or height')
            continue
        img = images[ann['image_id']]
        box, keep, clipped = clip_xywh(bbox, img['width'], img['height'],
                                       min_size)
        if not keep[0]:
            report('zero_area', where,
                   f"bbox {list(bbox)} is empty inside the {img['width']}x"
                   f"{img['height']} image")
            continue
        new = dict(ann)
        if clipped[0]:
            report('clipped', where, f"bbox {list(bbox)} crosses the "
                   f"{img['width']}x{img['height']} image border")
            new['bbox'] = box[0].tolist()
            new['area'] = float(box[0, 2] * box[0, 3])
        elif not (_is_number(ann.get('area')) and ann['area'] > 0):
            # mmdet's CocoDataset silently skips area <= 0
            report('bad_area', where, f"area {ann.get('area')!r} of bbox "
                   f'{list(bbox)} recomputed')
            new['area'] = float(bbox[2] * bbox[3])
        if not is_ignored and (box[0, 2] < 1 or box[0, 3] < 1):
            sub_pixel += 1  # kept: still ground truth for evaluation
        if renumber:
            new['id'] = len(kept) + 1
        kept.append(new)
        annotated.add(ann['image_id'])
        if is_ignored:
            ignored += 1
        else:
            object_boxes.append(box[0])
            per_class[cat_names[ann['category_id']]] += 1

    empty = [img for iid, img in images.items() if iid not in annotated]
    fixed = {k: v for k, v in coco.items()}
    fixed.update(images=list(images.values()), annotations=kept,
                 categories=categories)
    sizes = (size_bucket_counts(np.stack(object_boxes)) if object_boxes else
             dict.fromkeys((r[0] for r in SIZE_RANGES), 0))
    result = dict(
        source=source,
        images=len(coco['images']),
        annotations=len(anns_in),
        categories=len(coco['categories']),
        kept_images=len(images),
        kept_annotations=len(kept),
        issues=issues,
        num_issues=sum(issues.values()),
        messages=messages,
        undecodable_files=undecodable,
        instances=len(object_boxes),
        instances_per_class=per_class,
        instances_per_size=sizes,
        ignored_regions=ignored,
        sub_pixel_objects=sub_pixel,
        images_without_annotations=len(empty),
        empty_image_names=[str(img.get('file_name', img['id']))
                           for img in empty[:MAX_MESSAGES]],
        category_zero=0 in cat_names,
    )
    return fixed, result


def check_coco_file(path: PathLike,
                    img_dir: Optional[PathLike] = None,
                    fix_out: Optional[PathLike] = None,
                    *,
                    decode: bool = False,
                    min_size: float = 0.0,
                    progress: bool = False) -> dict:
    """Validate a COCO JSON file; write the cleaned copy to ``fix_out``.

    Args:
        path: the COCO JSON file.
        img_dir: folder the ``file_name`` entries are relative to; when
            given, missing files are reported (and dropped from the fix).
        fix_out: when given, write the cleaned copy there (atomically), even
            when nothing needed fixing.
        decode, min_size, progress: see :func:`validate_coco`.

    Returns:
        dict: the report of :func:`validate_coco`, plus ``fix_out`` when a
        copy was written.

    Raises:
        ValueError: the file is not valid JSON (message with line and
            column) or not a COCO detection dict.
    """
    path = Path(path)
    try:
        with open(path, encoding='utf-8-sig') as f:
            coco = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{path}:{e.lineno}:{e.colno}: invalid JSON: '
                         f'{e.msg}') from None
    fixed, result = validate_coco(
        coco, img_dir, decode=decode, min_size=min_size, source=str(path),
        progress=progress)
    if fix_out is not None:
        dump_json_atomic(fixed, fix_out)
        result['fix_out'] = str(fix_out)
    return result


def format_coco_report(result: dict,
                       header: Union[str, None] = None) -> str:
    """Render a :func:`validate_coco` report as a text table."""
    rows = instance_rows(
        result, f"{result['kept_images']} kept, "
        f"{result['images_without_annotations']} without annotations")
    rows[1:1] = [
        ('annotations', f"{result['annotations']} "
         f"({result['kept_annotations']} kept)"),
        ('categories', str(result['categories'])),
    ]
    rows += [
        ('ignored regions', str(result['ignored_regions'])),
        ('objects under 1 px (mmdet does not train on them)',
         str(result.get('sub_pixel_objects', 0))),
        ('issues', str(result['num_issues'])),
        *((f'  {label}', str(result['issues'][kind]))
          for kind, label in ISSUE_KINDS.items()),
    ]
    if result['empty_image_names']:
        rows.append(('images without annotations',
                     preview(result['empty_image_names'])))
    if result.get('category_zero'):
        rows.append(('note', 'category id 0 is listed: IgnoredRegionsCoco'
                     'Dataset would read it as ignored regions'))
    if 'fix_out' in result:
        rows.append(('cleaned copy', result['fix_out']))
    table = format_table(header or f"COCO check {result['source']}", rows)
    listed = result.get('undecodable_files', [])
    if listed:
        more = result['issues']['undecodable_file'] - len(listed)
        table += '\nimages that do not decode:\n' + '\n'.join(
            f'  {line}' for line in listed)
        if more > 0:
            table += f'\n  ... and {more} more'
    if result['messages']:
        more = (result['num_issues'] - len(result['messages']) -
                result['issues'].get('undecodable_file', 0))
        table += '\n' + '\n'.join(result['messages'])
        if more > 0:
            table += f'\n... and {more} more'
    return table
