"""Convert NWPU VHR-10 to COCO JSON, with a seeded train/val/test split.

The release (``readme.txt`` of NWPU VHR-10; Cheng et al., ISPRS J. 2014)
holds 800 images::

    NWPU VHR-10 dataset/
        positive image set/001.jpg ... 650.jpg   (each has >= 1 object)
        negative image set/001.jpg ... 150.jpg   (no object of the classes)
        ground truth/001.txt ... 650.txt         (one per positive image)

Each line of a ground-truth file is one box ``(x1,y1),(x2,y2),a`` with the
top-left and bottom-right corners and the class ``a``: 1 airplane, 2 ship,
3 storage tank, 4 baseball diamond, 5 tennis court, 6 basketball court,
7 ground track field, 8 harbor, 9 bridge, 10 vehicle. The real files pad
numbers with spaces (``(633,581),( 683,621),10``); spaces are accepted.

NWPU VHR-10 has no official split, and the HMPE paper (which reports on it)
does not state one. :func:`split_coco` makes a deterministic, seeded split
stratified by image set (positive / negative images are split separately
with the same ratios); the default ``(0.6, 0.2, 0.2)`` with seed 0 gives
390/130/130 positive and 90/30/30 negative images for train/val/test.

Both image sets reuse the same file names, so ``file_name`` is relative to
the dataset root (``positive image set/001.jpg``). Output otherwise follows
crossdino's COCO layout (images ids 1.. by file name, ``iscrowd: 0``).
NWPU VHR-10 has no ignored regions.
"""
import re
import warnings
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .common import (IMG_EXTENSIONS, PathLike, SIZE_RANGES, add_skipped,
                     cleanup_rows, clip_xywh, dump_json_atomic,
                     format_skipped, format_table, instance_rows, list_files,
                     maybe_tqdm, name_list_rows, numbered_lines,
                     size_bucket_counts, size_or_skip)

__all__ = [
    'NWPU_VHR10_CLASSES', 'NWPU_POSITIVE_DIR', 'NWPU_NEGATIVE_DIR',
    'NWPU_GT_DIR', 'parse_nwpu_txt', 'build_nwpu_vhr10_coco', 'split_coco',
    'convert_nwpu_vhr10', 'format_nwpu_summary'
]

NWPU_VHR10_CLASSES = ('airplane', 'ship', 'storage tank', 'baseball diamond',
                      'tennis court', 'basketball court',
                      'ground track field', 'harbor', 'bridge', 'vehicle')
NWPU_POSITIVE_DIR = 'positive image set'
NWPU_NEGATIVE_DIR = 'negative image set'
NWPU_GT_DIR = 'ground truth'
DEFAULT_SPLIT = (0.6, 0.2, 0.2)

_NUM = r'\s*([+-]?\d+(?:\.\d*)?)\s*'
_POINT = r'\(' + _NUM + ',' + _NUM + r'\)'
_LINE_RE = re.compile(
    r'\s*' + _POINT + r'\s*,\s*' + _POINT + r'\s*,\s*([+-]?\d+)\s*,?\s*',
    re.ASCII)


def parse_nwpu_txt(path: PathLike,
                   strict: bool = True) -> Tuple[np.ndarray, List[str]]:
    """Parse one NWPU VHR-10 ground-truth file.

    Args:
        path: the ``.txt`` file. Spaces around numbers, LF/CRLF endings, a
            UTF-8 BOM and empty lines are accepted.
        strict: raise on a malformed line; otherwise skip it.

    Returns:
        tuple: ``(rows, skipped)``; ``rows`` is a float64 array of shape
        (N, 5) with columns ``x1, y1, x2, y2, class`` (class 1..10),
        ``skipped`` the message of each line skipped (``strict=False``),
        worded as the strict error.

    Raises:
        ValueError: (``strict=True``) on a line not of the form
            ``(x1,y1),(x2,y2),class``, a class outside 1..10, or
            ``x2 < x1`` / ``y2 < y1``. The message reads
            ``"<path>:<line>: <reason>: '<text>'"``.
    """
    rows: List[Tuple[float, ...]] = []
    skipped: List[str] = []
    for lineno, line in numbered_lines(path):
        match = _LINE_RE.fullmatch(line)
        if match is None:
            reason = "expected '(x1,y1),(x2,y2),class'"
        else:
            x1, y1, x2, y2 = (float(v) for v in match.groups()[:4])
            cls = int(match.group(5))
            if not 1 <= cls <= len(NWPU_VHR10_CLASSES):
                reason = f'class {cls} outside 1..{len(NWPU_VHR10_CLASSES)}'
            elif x2 < x1 or y2 < y1:
                reason = ('bottom-right corner above or left of the top-left '
                          f'one (box size {x2 - x1:g}x{y2 - y1:g})')
            else:
                rows.append((x1, y1, x2, y2, cls))
                continue
        message = f'{path}:{lineno}: {reason}: {line.strip()!r}'
        if strict:
            raise ValueError(message)
        skipped.append(message)
    return np.array(rows, dtype=np.float64).reshape(-1, 5), skipped


def build_nwpu_vhr10_coco(root: PathLike,
                          *,
                          include_negative: bool = True,
                          min_size: float = 0.0,
                          strict: bool = True,
                          progress: bool = False) -> Tuple[dict, dict]:
    """Build the COCO dict of all NWPU VHR-10 images in memory.

    Args:
        root: the dataset folder (``positive image set/``, ``ground
            truth/`` and, optionally, ``negative image set/``).
        include_negative: add the negative images (no objects).
        min_size: drop boxes whose clipped width or height is ``<= min_size``.
        strict: raise on malformed lines (see :func:`parse_nwpu_txt`).
        progress: show a tqdm bar when tqdm is installed.

    Returns:
        tuple: ``(coco, summary)``. Every image dict carries
        ``image_set: 'positive' | 'negative'``, used to stratify the split.
        See :func:`convert_nwpu_vhr10` for ``summary``.

    Raises:
        FileNotFoundError: ``positive image set/`` or ``ground truth/`` is
            missing.
        ValueError: a malformed line with ``strict=True``.
    """
    root = Path(root)
    pos_dir, neg_dir, gt_dir = (root / NWPU_POSITIVE_DIR,
                                root / NWPU_NEGATIVE_DIR, root / NWPU_GT_DIR)
    for folder in (pos_dir, gt_dir):
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder} not found: an NWPU VHR-10 folder must hold "
                f"'{NWPU_POSITIVE_DIR}/*.jpg', '{NWPU_GT_DIR}/*.txt' (same "
                f"stems) and optionally '{NWPU_NEGATIVE_DIR}/*.jpg'")
    positives = list_files(pos_dir, IMG_EXTENSIONS)
    txts = list_files(gt_dir, ('.txt', ))
    entries = [(p, 'positive') for p in positives.values()]
    if include_negative and neg_dir.is_dir():
        entries += [(p, 'negative')
                    for p in list_files(neg_dir, IMG_EXTENSIONS).values()]
    elif include_negative:
        warnings.warn(f'{neg_dir} not found: converting positive images only')
    entries.sort(key=lambda e: e[0].relative_to(root).as_posix())

    summary = dict(
        root=str(root),
        images=0,
        negative_images=0,
        images_with_objects=0,
        instances=0,
        instances_per_class=dict.fromkeys(NWPU_VHR10_CLASSES, 0),
        instances_per_size=dict.fromkeys((r[0] for r in SIZE_RANGES), 0),
        clipped=0,
        dropped_zero_area=0,
        malformed=0,
        skipped=[],
        missing_annotations=[],
        unreadable=[],
        orphan_annotations=sorted(txts.keys() - positives.keys()),
    )
    for stem in summary['orphan_annotations']:
        warnings.warn(f'{txts[stem]}: ground truth without an image in '
                      f'{pos_dir}, skipped')

    coco_images, coco_anns, boxes = [], [], []
    class_counts = np.zeros(len(NWPU_VHR10_CLASSES) + 1, dtype=np.int64)
    for img_path, image_set in maybe_tqdm(entries, len(entries),
                                          'NWPU VHR-10', progress):
        file_name = img_path.relative_to(root).as_posix()
        size = size_or_skip(img_path, file_name, summary['unreadable'])
        if size is None:
            continue
        width, height = size
        image_id = len(coco_images) + 1
        coco_images.append(
            dict(id=image_id, file_name=file_name, width=width,
                 height=height, image_set=image_set))
        if image_set == 'negative':
            summary['negative_images'] += 1
            continue
        if img_path.stem not in txts:
            summary['missing_annotations'].append(file_name)
            warnings.warn(f'{file_name}: positive image without '
                          f'{NWPU_GT_DIR}/{img_path.stem}.txt')
            continue
        rows, skipped = parse_nwpu_txt(txts[img_path.stem], strict=strict)
        add_skipped(summary, skipped)
        xywh = np.concatenate([rows[:, :2], rows[:, 2:4] - rows[:, :2]],
                              axis=1)
        xywh, keep, clipped = clip_xywh(xywh, width, height, min_size)
        summary['dropped_zero_area'] += int((~keep).sum())
        summary['clipped'] += int((clipped & keep).sum())
        cats, xywh = rows[keep, 4].astype(np.int64), xywh[keep]
        class_counts += np.bincount(cats, minlength=class_counts.size)
        boxes.append(xywh)
        summary['images_with_objects'] += bool(len(cats))
        for cat, box in zip(cats.tolist(), xywh.tolist()):
            coco_anns.append(
                dict(id=len(coco_anns) + 1, image_id=image_id,
                     category_id=cat, bbox=box, area=box[2] * box[3],
                     iscrowd=0))

    summary['images'] = len(coco_images)
    for cat, name in enumerate(NWPU_VHR10_CLASSES, 1):
        summary['instances_per_class'][name] = int(class_counts[cat])
    summary['instances'] = int(class_counts.sum())
    if boxes:
        summary['instances_per_size'] = size_bucket_counts(
            np.concatenate(boxes))
    coco = dict(
        images=coco_images,
        annotations=coco_anns,
        categories=[
            dict(id=i, name=n) for i, n in enumerate(NWPU_VHR10_CLASSES, 1)
        ])
    return coco, summary


def split_names(num: int) -> Tuple[str, ...]:
    """Subset names: 2 ratios -> train/test, 3 -> train/val/test."""
    names = {1: ('all', ), 2: ('train', 'test'), 3: ('train', 'val', 'test')}
    if num not in names:
        raise ValueError(f'expected 1 to 3 split ratios, got {num}')
    return names[num]


def split_coco(coco: dict,
               ratios: Sequence[float] = DEFAULT_SPLIT,
               seed: int = 0,
               strata_key: str = 'image_set') -> Dict[str, dict]:
    """Split a COCO dict into seeded, stratified subsets.

    Images are grouped by ``image[strata_key]`` (images without the key form
    one group); each group, in file-name order, is permuted with
    ``numpy.random.RandomState(seed)`` and cut at ``round(cumsum(ratios) /
    sum(ratios) * n)``. Each subset is renumbered: image ids 1.. by file
    name, annotation ids 1.. in image order.

    Args:
        coco: COCO dict (``images``, ``annotations``, ``categories``).
        ratios: 1 to 3 positive fractions, normalised to sum 1.
        seed: the random seed; the same seed gives the same split.
        strata_key: image key to stratify on.

    Returns:
        dict: ``{name: coco}`` with names from :func:`split_names`.
    """
    ratios = np.asarray(ratios, dtype=np.float64)
    names = split_names(len(ratios))
    if (ratios <= 0).any():
        raise ValueError(f'split ratios must be positive, got {ratios}')
    bounds = np.cumsum(ratios) / ratios.sum()
    rng = np.random.RandomState(seed)
    groups: Dict[str, List[dict]] = {}
    for img in sorted(coco['images'], key=lambda i: i['file_name']):
        groups.setdefault(str(img.get(strata_key)), []).append(img)
    chosen: Dict[str, List[dict]] = {name: [] for name in names}
    for key in sorted(groups):
        imgs = groups[key]
        order = rng.permutation(len(imgs))
        cuts = np.concatenate([[0], np.round(bounds * len(imgs))]).astype(int)
        for name, lo, hi in zip(names, cuts[:-1], cuts[1:]):
            chosen[name].extend(imgs[i] for i in order[lo:hi])

    anns_by_image: Dict[int, List[dict]] = {}
    for ann in coco['annotations']:
        anns_by_image.setdefault(ann['image_id'], []).append(ann)
    subsets = {}
    for name in names:
        images, anns = [], []
        for new_id, img in enumerate(
                sorted(chosen[name], key=lambda i: i['file_name']), 1):
            images.append(dict(img, id=new_id))
            for ann in anns_by_image.get(img['id'], []):
                anns.append(dict(ann, id=len(anns) + 1, image_id=new_id))
        subsets[name] = dict(
            images=images,
            annotations=anns,
            categories=[dict(c) for c in coco['categories']])
    return subsets


def convert_nwpu_vhr10(root: PathLike,
                       out_dir: PathLike,
                       *,
                       ratios: Sequence[float] = DEFAULT_SPLIT,
                       seed: int = 0,
                       prefix: str = 'nwpu_vhr10',
                       **kwargs) -> dict:
    """Convert NWPU VHR-10 and write one COCO JSON per split subset.

    Args:
        root: the dataset folder.
        out_dir: writes ``out_dir/<prefix>_<subset>.json`` (atomically).
        ratios, seed: see :func:`split_coco`.
        prefix: output file name prefix.
        **kwargs: ``include_negative``, ``min_size``, ``strict``,
            ``progress``; see :func:`build_nwpu_vhr10_coco`.

    Returns:
        dict: summary with keys

        - ``root``; ``images``, ``negative_images``, ``images_with_objects``.
        - ``instances``, ``instances_per_class``, ``instances_per_size``
          (over :data:`SIZE_RANGES`).
        - ``clipped``, ``dropped_zero_area``, ``malformed`` (lines skipped,
          ``strict=False``), ``skipped`` (the first
          :data:`~.common.MAX_SKIPPED` of them, ``"<file>:<line>: <reason>:
          '<text>'"``).
        - ``missing_annotations`` (positive images without ground truth),
          ``unreadable``, ``orphan_annotations`` (ground truth without image).
        - ``split``: ``{subset: dict(json, images, negative_images,
          instances)}``; ``ratios``, ``seed``.
    """
    coco, summary = build_nwpu_vhr10_coco(root, **kwargs)
    subsets = split_coco(coco, ratios, seed)
    summary.update(ratios=[float(r) for r in ratios], seed=seed, split={})
    for name, sub in subsets.items():
        out = Path(out_dir) / f'{prefix}_{name}.json'
        dump_json_atomic(sub, out)
        summary['split'][name] = dict(
            json=str(out),
            images=len(sub['images']),
            negative_images=sum(i.get('image_set') == 'negative'
                                for i in sub['images']),
            instances=len(sub['annotations']))
    return summary


def format_nwpu_summary(summary: dict) -> str:
    """Render a :func:`convert_nwpu_vhr10` summary as a text table."""
    rows = instance_rows(
        summary, f"{summary['images_with_objects']} with objects, "
        f"{summary['negative_images']} negative") + cleanup_rows(summary)
    rows += name_list_rows(summary, [
        ('missing_annotations', 'positives without gt'),
        ('unreadable', 'unreadable images'),
        ('orphan_annotations', 'gt without image'),
    ])
    if 'split' in summary:
        rows.append((f"split {summary['ratios']} seed {summary['seed']}", ''))
        for name, sub in summary['split'].items():
            rows.append((f'  {name}', f"{sub['images']:>5d} images "
                         f"({sub['negative_images']} negative), "
                         f"{sub['instances']} instances -> {sub['json']}"))
    return (format_table(f"NWPU VHR-10 {summary['root']}", rows) +
            format_skipped(summary))
