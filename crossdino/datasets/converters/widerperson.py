"""Convert WiderPerson annotations to COCO JSON.

The official release (WiderPerson ``ReadMe.txt``; Zhang et al., "WiderPerson:
A Diverse Dataset for Dense Pedestrian Detection in the Wild", IEEE TMM 2019)
is laid out as::

    WiderPerson/
        Images/000040.jpg
        Annotations/000040.jpg.txt      (note the double extension)
        train.txt  val.txt  test.txt    (one image id per line, no extension)

Each annotation file starts with the number of boxes ``N``, followed by ``N``
lines ``class_label x1 y1 x2 y2`` (whitespace separated, corners in pixels)::

    class_label 1: pedestrians          2: riders
                3: partially-visible persons
                4: ignore regions       5: crowd

Ground truth is released for ``train`` (8000 images) and ``val`` (1000) only;
``test`` (4382) converts to images without annotations.

Class protocols (``classes`` argument, ``--classes`` on the command line):

- ``'pedestrian'`` (default): IterDet's protocol, which Cross-DINO follows for
  WiderPerson (Sec. IV-A "IterDet [51] for WiderPerson", Table II). IterDet's
  converter (SamsungLabs/iterdet ``tools/convert_datasets/wider_person.py``)
  keeps label 1 as the single class and marks labels 2-5 ``iscrowd``, i.e.
  ignored. Here label 1 becomes category 1 ``pedestrian`` and labels 2-5
  ignored regions.
- ``'person'``: labels 1-3 merged into one ``person`` class, ignore regions
  (4) and crowd boxes (5) ignored (a crowd box covers many people, so it can
  be neither a true positive nor a false positive).
- ``'all'``: four classes ``pedestrian, rider, partially-visible person,
  crowd`` (labels 1, 2, 3, 5); only label 4 is ignored.

IterDet also skips *training* images without a pedestrian; the converter
keeps every listed image and the dataset config's ``filter_empty_gt=True``
drops them at load time (ignored regions do not count as objects). IterDet
writes ``w = x2 - x1 + 1`` (inclusive pixel corners); the default here is
``w = x2 - x1``, ``plus_one=True`` reproduces IterDet's boxes.

Output follows crossdino's COCO layout (see :mod:`.common`): images ids 1..
by file name (``file_name`` relative to ``Images/``), objects with
``iscrowd: 0`` and the original ``widerperson_label``, ignored regions with
``category_id: 0, iscrowd: 1, ignore: 1, widerperson_label``.
"""
import re
import warnings
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from .common import (PathLike, SIZE_RANGES, add_skipped, cleanup_rows,
                     clip_xywh, dump_json_atomic, format_skipped,
                     format_table, ignored_region_ann, instance_rows,
                     maybe_tqdm, name_list_rows, numbered_lines,
                     size_bucket_counts, size_or_skip)

__all__ = [
    'WIDERPERSON_LABELS', 'WIDERPERSON_CLASS_MODES', 'WIDERPERSON_SPLITS',
    'widerperson_classes', 'parse_widerperson_txt', 'build_widerperson_coco',
    'convert_widerperson_split', 'format_widerperson_summary'
]

# Official label ids and names (ReadMe.txt of the release).
WIDERPERSON_LABELS = {
    1: 'pedestrians',
    2: 'riders',
    3: 'partially-visible persons',
    4: 'ignore regions',
    5: 'crowd',
}
WIDERPERSON_SPLITS = ('train', 'val', 'test')

# mode -> (category names, {WiderPerson label: category id}); labels not in
# the map become ignored regions.
WIDERPERSON_CLASS_MODES: Dict[str, Tuple[Tuple[str, ...], Dict[int, int]]] = {
    'pedestrian': (('pedestrian', ), {1: 1}),
    'person': (('person', ), {1: 1, 2: 1, 3: 1}),
    'all': (('pedestrian', 'rider', 'partially-visible person', 'crowd'),
            {1: 1, 2: 2, 3: 3, 5: 4}),
}

_NUMBER = r'[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?'
_BOX_RE = re.compile(r'\s*(\d+)' + rf'\s+({_NUMBER})' * 4 + r'\s*', re.ASCII)
_COUNT_RE = re.compile(r'\s*(\d+)\s*', re.ASCII)
_NUMBER_RE = re.compile(_NUMBER, re.ASCII)


def widerperson_classes(mode: str = 'pedestrian') -> Tuple[str, ...]:
    """Category names written for class ``mode`` (see the module doc)."""
    if mode not in WIDERPERSON_CLASS_MODES:
        raise ValueError(f'unknown WiderPerson class mode {mode!r}, expected '
                         f'one of {sorted(WIDERPERSON_CLASS_MODES)}')
    return WIDERPERSON_CLASS_MODES[mode][0]


def _describe_bad_box(line: str) -> str:
    """Say why ``line`` is not ``class x1 y1 x2 y2``."""
    fields = line.split()
    if len(fields) != 5:
        return ("expected 5 whitespace-separated fields 'class x1 y1 x2 y2', "
                f'got {len(fields)}')
    if not fields[0].isdigit():
        return f'class label {fields[0]!r} is not an integer'
    bad = [f for f in fields[1:] if not _NUMBER_RE.fullmatch(f)]
    return f'non-numeric coordinate {bad[0] if bad else line.strip()!r}'


def parse_widerperson_txt(path: PathLike,
                          strict: bool = True) -> Tuple[np.ndarray, dict]:
    """Parse one WiderPerson ``<image>.jpg.txt`` annotation file.

    Args:
        path: the annotation file. LF/CRLF endings, a UTF-8 BOM, surrounding
            whitespace and empty lines are accepted.
        strict: raise on a malformed file; otherwise skip bad lines and count
            them.

    Returns:
        tuple: ``(rows, stats)``; ``rows`` is a float64 array of shape (N, 5)
        with columns ``label, x1, y1, x2, y2`` in file order, ``stats`` a dict
        with ``skipped`` (``strict=False`` only: the message of each
        malformed line, worded as the strict error; a missing count line is
        listed too, though its box is kept) and ``count_mismatch`` (1 when
        the count line disagrees with the number of box lines,
        ``strict=False`` only; the box lines found are kept).

    Raises:
        ValueError: (``strict=True``) on a missing or non-integer count line,
            a box line that is not 5 numbers, a label outside 1..5, a box with
            ``x2 < x1`` or ``y2 < y1``, or a count line that disagrees with
            the number of box lines. The message reads
            ``"<path>:<line>: <reason>: '<text>'"``.
    """
    numbered = numbered_lines(path)
    stats = dict(skipped=[], count_mismatch=0)

    def fail(lineno: int, reason: str, text: str, skip: bool = True) -> None:
        message = f'{path}:{lineno}: {reason}: {text.strip()!r}'
        if strict:
            raise ValueError(message)
        if skip:
            stats['skipped'].append(message)

    if not numbered:
        fail(1, 'empty file, expected the number of boxes on the first line',
             '')
        return np.zeros((0, 5)), stats
    count_lineno, count_line = numbered[0]
    count_match = _COUNT_RE.fullmatch(count_line)
    if count_match is None:
        # non-strict: the line is then read as a box line; a line that is
        # not a box either is listed by the box loop, so list it here only
        # when it is a box (a missing count line)
        fail(count_lineno, 'first line must be the number of boxes N',
             count_line, skip=_BOX_RE.fullmatch(count_line) is not None)
        box_lines, expected = numbered, None
    else:
        box_lines, expected = numbered[1:], int(count_match.group(1))

    rows: List[Tuple[float, ...]] = []
    for lineno, line in box_lines:
        match = _BOX_RE.fullmatch(line)
        if match is None:
            reason = _describe_bad_box(line)
        else:
            label = int(match.group(1))
            x1, y1, x2, y2 = (float(v) for v in match.groups()[1:])
            if label not in WIDERPERSON_LABELS:
                reason = f'class label {label} outside 1..5'
            elif x2 < x1 or y2 < y1:
                reason = f'x2 < x1 or y2 < y1 (negative box size ' \
                         f'{x2 - x1:g}x{y2 - y1:g})'
            else:
                rows.append((label, x1, y1, x2, y2))
                continue
        fail(lineno, reason, line)
    if expected is not None and expected != len(box_lines):
        fail(count_lineno, f'count line says {expected} boxes but '
             f'{len(box_lines)} box lines follow', count_line, skip=False)
        stats['count_mismatch'] += 1
        warnings.warn(f'{path}:{count_lineno}: count line says {expected} '
                      f'boxes but {len(box_lines)} box lines follow; kept '
                      'the box lines')
    return np.array(rows, dtype=np.float64).reshape(-1, 5), stats


def _read_split_list(path: Path) -> List[str]:
    """Image ids of a ``train.txt``-style list (duplicates removed)."""
    with open(path, encoding='utf-8-sig') as f:
        ids = [line.strip() for line in f]
    ids = [i for i in ids if i]
    unique = list(dict.fromkeys(ids))
    if len(unique) != len(ids):
        warnings.warn(f'{path}: {len(ids) - len(unique)} duplicate image '
                      'ids, each image converted once')
    return unique


def build_widerperson_coco(root: PathLike,
                           split: str,
                           *,
                           classes: str = 'pedestrian',
                           plus_one: bool = False,
                           min_size: float = 0.0,
                           strict: bool = True,
                           progress: bool = False) -> Tuple[dict, dict]:
    """Build the COCO dict of one WiderPerson split in memory.

    Args:
        root: folder holding ``Images/``, ``Annotations/`` and
            ``<split>.txt``.
        split: ``'train'``, ``'val'`` or ``'test'`` (any ``<split>.txt``
            list works).
        classes: class protocol, ``'pedestrian'`` (IterDet, default),
            ``'person'`` or ``'all'``; see the module docstring.
        plus_one: boxes as ``[x1, y1, x2 - x1 + 1, y2 - y1 + 1]`` like
            IterDet's converter (inclusive pixel corners).
        min_size: drop boxes whose clipped width or height is ``<= min_size``
            pixels (0 drops only empty boxes).
        strict: raise on malformed files (see :func:`parse_widerperson_txt`);
            otherwise skip and count bad lines.
        progress: show a tqdm bar when tqdm is installed.

    Returns:
        tuple: ``(coco, summary)``; see :func:`convert_widerperson_split`.

    Raises:
        FileNotFoundError: ``Images/`` or ``<split>.txt`` is missing, or
            ``Annotations/`` for a split other than ``test``.
        ValueError: a malformed file with ``strict=True``.
    """
    names = widerperson_classes(classes)
    label_map = WIDERPERSON_CLASS_MODES[classes][1]
    root = Path(root)
    img_dir, ann_dir = root / 'Images', root / 'Annotations'
    list_file = root / f'{split}.txt'
    expect_gt = split != 'test'
    required = [img_dir, list_file] + ([ann_dir] if expect_gt else [])
    for path in required:
        if not path.exists():
            raise FileNotFoundError(
                f'{path} not found: a WiderPerson folder must hold Images/'
                '*.jpg, Annotations/*.jpg.txt and the split lists train.txt, '
                'val.txt, test.txt (image ids without extension)')

    ids = sorted(_read_split_list(list_file), key=lambda i: f'{i}.jpg')
    summary = dict(
        root=str(root),
        split=split,
        classes=classes,
        images=0,
        images_with_objects=0,
        instances=0,
        instances_per_class=dict.fromkeys(names, 0),
        ignored_regions=0,
        boxes_per_label={WIDERPERSON_LABELS[k]: 0
                         for k in WIDERPERSON_LABELS},
        instances_per_size=dict.fromkeys((r[0] for r in SIZE_RANGES), 0),
        clipped=0,
        dropped_zero_area=0,
        malformed=0,
        skipped=[],
        count_mismatch=0,
        missing_images=[],
        missing_annotations=[],
        unreadable=[],
    )
    coco_images, coco_anns, object_boxes = [], [], []
    label_counts = np.zeros(6, dtype=np.int64)
    cat_counts = np.zeros(len(names) + 1, dtype=np.int64)
    lut = np.zeros(6, dtype=np.int64)  # label -> category id, 0 = ignored
    for label, cat in label_map.items():
        lut[label] = cat

    for img_id_str in maybe_tqdm(ids, len(ids), f'WiderPerson {split}',
                                 progress):
        file_name = f'{img_id_str}.jpg'
        img_path = img_dir / file_name
        if not img_path.is_file():
            summary['missing_images'].append(file_name)
            warnings.warn(f'{list_file}: {img_path} not found, skipped')
            continue
        size = size_or_skip(img_path, file_name, summary['unreadable'])
        if size is None:
            continue
        width, height = size
        image_id = len(coco_images) + 1
        coco_images.append(
            dict(id=image_id, file_name=file_name, width=width,
                 height=height))
        txt = ann_dir / f'{file_name}.txt'
        if not txt.is_file():
            if expect_gt:
                summary['missing_annotations'].append(file_name)
                warnings.warn(f'{txt} not found: {file_name} has no '
                              'annotations')
            continue
        rows, stats = parse_widerperson_txt(txt, strict=strict)
        add_skipped(summary, stats['skipped'])
        summary['count_mismatch'] += stats['count_mismatch']

        xyxy = rows[:, 1:]
        xywh = np.concatenate(
            [xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2] + float(plus_one)],
            axis=1)
        xywh, keep, clipped = clip_xywh(xywh, width, height, min_size)
        summary['dropped_zero_area'] += int((~keep).sum())
        summary['clipped'] += int((clipped & keep).sum())
        labels = rows[keep, 0].astype(np.int64)
        xywh = xywh[keep]
        cats = lut[labels]
        label_counts += np.bincount(labels, minlength=6)
        cat_counts += np.bincount(cats, minlength=cat_counts.size)
        object_boxes.append(xywh[cats > 0])
        summary['images_with_objects'] += bool((cats > 0).any())
        for label, cat, box in zip(labels.tolist(), cats.tolist(),
                                   xywh.tolist()):
            ann_id = len(coco_anns) + 1
            if cat:
                coco_anns.append(
                    dict(id=ann_id, image_id=image_id, category_id=cat,
                         bbox=box, area=box[2] * box[3], iscrowd=0,
                         widerperson_label=label))
            else:
                coco_anns.append(
                    ignored_region_ann(ann_id, image_id, box,
                                       widerperson_label=label))

    summary['images'] = len(coco_images)
    for cat, name in enumerate(names, 1):
        summary['instances_per_class'][name] = int(cat_counts[cat])
    summary['instances'] = int(cat_counts[1:].sum())
    summary['ignored_regions'] = int(cat_counts[0])
    for label, name in WIDERPERSON_LABELS.items():
        summary['boxes_per_label'][name] = int(label_counts[label])
    if object_boxes:
        summary['instances_per_size'] = size_bucket_counts(
            np.concatenate(object_boxes))
    coco = dict(
        images=coco_images,
        annotations=coco_anns,
        categories=[dict(id=i, name=n) for i, n in enumerate(names, 1)])
    return coco, summary


def convert_widerperson_split(root: PathLike, split: str, out_json: PathLike,
                              **kwargs) -> dict:
    """Convert one WiderPerson split to a COCO JSON file.

    Args:
        root: the WiderPerson folder (``Images/``, ``Annotations/``,
            ``<split>.txt``).
        split: the split list to convert, e.g. ``'train'``.
        out_json: the JSON file to write (atomically; parents are created).
        **kwargs: ``classes``, ``plus_one``, ``min_size``, ``strict``,
            ``progress``; see :func:`build_widerperson_coco`.

    Returns:
        dict: summary with keys

        - ``root``, ``split``, ``classes``, ``out_json``.
        - ``images``; ``images_with_objects`` (ignored regions do not count).
        - ``instances``, ``instances_per_class`` ``{name: n}``,
          ``instances_per_size`` over :data:`SIZE_RANGES`;
          ``ignored_regions``; ``boxes_per_label``: kept boxes per original
          WiderPerson label name.
        - ``clipped`` (kept boxes clipped to the image),
          ``dropped_zero_area`` (empty after clipping), ``malformed`` (lines
          skipped), ``skipped`` (the first :data:`~.common.MAX_SKIPPED` of
          them, ``"<file>:<line>: <reason>: '<text>'"``),
          ``count_mismatch`` (files whose count line is wrong).
        - ``missing_images``, ``missing_annotations``, ``unreadable``: file
          names, also reported with ``warnings.warn``.
    """
    coco, summary = build_widerperson_coco(root, split, **kwargs)
    dump_json_atomic(coco, out_json)
    summary['out_json'] = str(out_json)
    return summary


def format_widerperson_summary(summary: dict) -> str:
    """Render a :func:`convert_widerperson_split` summary as a table."""
    rows = instance_rows(summary)
    rows[1:1] = [('classes', summary['classes'])]
    rows += [
        ('ignored regions', str(summary['ignored_regions'])),
        ('boxes per WiderPerson label', ''),
        *((f'  {name}', f'{n:>8d}')
          for name, n in summary['boxes_per_label'].items()),
    ] + cleanup_rows(summary) + [
        ('count-line mismatches', str(summary['count_mismatch'])),
    ]
    rows += name_list_rows(summary, [
        ('missing_images', 'listed images not found'),
        ('missing_annotations', 'images without .jpg.txt'),
        ('unreadable', 'unreadable images'),
    ])
    return format_table(
        f"WiderPerson {summary['split']} ({summary['root']})", rows,
        summary.get('out_json')) + format_skipped(summary)
