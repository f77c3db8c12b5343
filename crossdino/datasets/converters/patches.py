"""Split large images into overlapping patches, with their COCO annotations.

One implementation for every dataset whose images are too large to train on
whole (DOTA, SODA-D). The input is a full-image COCO JSON in crossdino's
layout (objects ``iscrowd: 0``, ignored regions ``category_id: 0, iscrowd: 1,
ignore: 1``); the output is a patch COCO JSON in the same layout plus one
image file per patch. The full-image JSON stays the ground truth for
evaluation: :class:`~crossdino.evaluation.metrics.PatchMergeMetric` shifts the
patch detections back by the offsets stored here and merges them with NMS.

Window placement (per axis, the same rule as the DOTA devkit's ``ImgSplit``
and CFINet's ``sodad_split.py``): windows start at ``0, stride, 2 * stride,
...``; the last one is shifted to end exactly at the image border, so no
window is padded and the last overlap may be larger than ``patch - stride``.
An axis shorter than the patch gets one window of the axis length (the patch
is smaller than ``patch_size``; CFINet pads such images to 800 px with black
instead, which only changes the canvas, not the annotations).

Protocols (presets in :data:`PATCH_PRESETS`):

- DOTA: 1024 x 1024 patches, gap 200 (stride 824), objects kept when more
  than 70% of their area is inside the patch (the devkit's ``half_iou >
  thresh=0.7``; otherwise the devkit keeps the polygon with
  ``difficult=2``, here it becomes an ignored region).
- SODA-D: 800 x 800 patches, stride 650 (CFINet's ``stepSz=150`` overlap);
  CFINet marks a cut object ``ignore`` when at most 40% of its area is inside
  (``interAreaIgnThr=0.4``), hence ``min_visible=0.4``. The resize of the
  patches to 1200 x 1200 is done by the data pipeline, not here.
  Deviations from CFINet's script: it paints ``ignore`` regions black in the
  training patches and drops their boxes, and crops training images to the
  extent of their annotations; here the pixels are left as they are, the
  regions stay ignored regions (which crossdino's datasets pass to the
  pipeline as ignored instances), and ``skip_empty`` drops patches without
  objects instead.

Cut objects, i.e. objects that intersect a window but are not wholly inside
it, are clipped to the window. With ``visible = inter_area / box_area``:

- ``visible > min_visible`` (or the whole object): kept as an object
  (clipped box);
- ``0 < visible <= min_visible``: ``cut_policy='ignore'`` (default) writes the
  clipped part as an ignored region (so that a detector that finds the
  visible part is neither rewarded nor punished), ``cut_policy='drop'``
  drops it.

Ignored regions of the source are clipped to each window they intersect.

Patch JSON layout::

    images: {id, file_name, width, height, orig_image_id, orig_file_name,
             orig_width, orig_height, x_offset, y_offset}
    annotations: objects {id, image_id, category_id, bbox, area, iscrowd: 0,
                          orig_ann_id, <other fields of the source object>}
                 ignored {id, image_id, category_id: 0, bbox, area,
                          iscrowd: 1, ignore: 1, orig_ann_id,
                          cut_category_id (cut objects only)}
    categories: copied from the full-image JSON

``file_name`` is ``<stem>__<x_offset>_<y_offset><ext>``, ``<stem>`` the
source ``file_name`` without extension and with ``/`` replaced by ``__`` (so
``positive image set/001.jpg`` and ``negative image set/001.jpg`` do not
collide); patch ids are 1..,
ordered by original image id, then row-major over the windows. A point
``(x, y)`` of a patch is ``(x + x_offset, y + y_offset)`` in its original
image.
"""
import json
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .common import (PathLike, dump_json_atomic, format_table, maybe_tqdm,
                     preview)

__all__ = [
    'PATCH_PRESETS', 'CUT_POLICIES', 'window_starts', 'sliding_windows',
    'assign_to_window', 'build_patch_coco', 'split_coco_file',
    'split_dataset_split', 'format_patch_summary', 'patch_tag',
    'add_patch_arguments', 'patch_kwargs'
]

# name -> (patch_size, stride, min_visible)
PATCH_PRESETS = {
    'dota': dict(patch_size=1024, stride=824, min_visible=0.7),
    'sodad': dict(patch_size=800, stride=650, min_visible=0.4),
}
CUT_POLICIES = ('ignore', 'drop')
# Fields of a source annotation that are recomputed for each patch.
_GEOMETRY_KEYS = ('id', 'image_id', 'bbox', 'area', 'segmentation')


def patch_tag(patch_size: int, stride: int) -> str:
    """Name part for files of one split setting, e.g. ``patch1024-stride824``.
    """
    return f'patch{patch_size}-stride{stride}'


def window_starts(length: int, patch: int, stride: int) -> np.ndarray:
    """Start coordinates of the windows along one axis.

    Args:
        length: image size along the axis (px).
        patch: window size (px).
        stride: distance between consecutive starts (px), ``0 < stride``.

    Returns:
        np.ndarray: (K,) int64 starts; ``0, stride, ...`` then one window
        ending at ``length`` when the regular grid does not reach it. A single
        ``[0]`` when ``length <= patch``.
    """
    if patch <= 0 or stride <= 0:
        raise ValueError(f'patch ({patch}) and stride ({stride}) must be > 0')
    if stride > patch:
        warnings.warn(f'stride {stride} > patch {patch}: the windows leave '
                      'gaps, objects in the gaps are lost')
    if length <= patch:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, length - patch + 1, stride, dtype=np.int64)
    if starts[-1] + patch < length:
        starts = np.append(starts, length - patch)
    return starts


def sliding_windows(width: int, height: int, patch_size: int,
                    stride: int) -> np.ndarray:
    """All windows of an image, row-major.

    Returns:
        np.ndarray: (K, 4) int64 ``[x1, y1, x2, y2]`` windows, rows ordered
        by ``y1`` then ``x1``; ``x2 - x1 = min(patch_size, width)``.
    """
    xs = window_starts(width, patch_size, stride)
    ys = window_starts(height, patch_size, stride)
    x1, y1 = np.meshgrid(xs, ys)  # (ny, nx) each, row-major
    x1, y1 = x1.ravel(), y1.ravel()
    return np.stack([
        x1, y1,
        x1 + min(patch_size, width),
        y1 + min(patch_size, height)
    ], axis=1)


def assign_to_window(boxes: np.ndarray, window: Sequence[int]
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """Clip boxes to one window, all boxes at once.

    Args:
        boxes: (N, 4) ``[x1, y1, x2, y2]`` boxes in image coordinates.
        window: ``[x1, y1, x2, y2]`` of the window.

    Returns:
        tuple: ``(clipped, visible)``: (N, 4) float64 boxes clipped to the
        window in *window* coordinates (meaningless where ``visible == 0``),
        and (N,) float64 fractions of each box's area inside the window (0
        for empty boxes and boxes that only touch the window border).
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    wx1, wy1, wx2, wy2 = (float(v) for v in window)
    lo = np.array([wx1, wy1, wx1, wy1])
    hi = np.array([wx2, wy2, wx2, wy2])
    clipped = np.clip(boxes, lo, hi)
    inter_wh = np.maximum(clipped[:, 2:] - clipped[:, :2], 0.0)
    inter = inter_wh[:, 0] * inter_wh[:, 1]
    area = np.prod(np.maximum(boxes[:, 2:] - boxes[:, :2], 0.0), axis=1)
    visible = np.divide(
        inter, area, out=np.zeros_like(inter), where=area > 0)
    return clipped - lo, visible


def _xywh_to_xyxy(anns: List[dict]) -> np.ndarray:
    xywh = np.array([a['bbox'] for a in anns],
                    dtype=np.float64).reshape(-1, 4)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def _is_ignored(ann: dict) -> bool:
    return bool(ann.get('ignore', 0)) or ann.get('category_id') == 0 or \
        bool(ann.get('iscrowd', 0))


def build_patch_coco(coco: dict,
                     img_dir: Optional[PathLike],
                     out_img_dir: Optional[PathLike],
                     *,
                     patch_size: int,
                     stride: int,
                     min_visible: float = 0.7,
                     cut_policy: str = 'ignore',
                     skip_empty: bool = False,
                     img_ext: Optional[str] = None,
                     jpeg_quality: int = 95,
                     progress: bool = False) -> Tuple[dict, dict]:
    """Split every image of a full-image COCO dict into patches.

    Args:
        coco: full-image COCO dict in crossdino's layout.
        img_dir: folder the full-image ``file_name`` s are relative to.
        out_img_dir: folder to write the patch images to; None writes no
            images (annotations only, e.g. to inspect a setting quickly).
        patch_size: window side (px).
        stride: distance between window starts (px); DOTA's ``gap`` is
            ``patch_size - stride``.
        min_visible: an object is kept in a window when more than this
            fraction of its area is inside (or all of it), in (0, 1].
        cut_policy: ``'ignore'`` or ``'drop'`` for objects below
            ``min_visible`` (see the module docstring).
        skip_empty: leave out patches without objects (for training sets;
            keep them for evaluation, the merge needs every window).
        img_ext: patch image extension (``'.png'``, ``'.jpg'``; the dot is
            optional); defaults to the source image's.
        jpeg_quality: quality of JPEG patches.
        progress: show a tqdm bar.

    Returns:
        tuple: ``(patch_coco, summary)``; see the module docstring for
        ``patch_coco``. ``summary`` holds ``images``, ``patches``,
        ``empty_patches`` (written without objects), ``skipped_empty``,
        ``objects`` (in the full images), ``patch_objects``, ``cut_kept``,
        ``cut_ignored``, ``cut_dropped``, ``ignored_regions`` (patch ignored
        regions from source ignored regions), ``objects_never_whole``
        (objects not wholly inside any window, e.g. larger than the
        overlap allows), ``unreadable``, ``size_mismatch``.

    Raises:
        ValueError: a bad setting.
    """
    if not 0 < min_visible <= 1:
        raise ValueError(f'min_visible must be in (0, 1], got {min_visible}')
    if img_ext and not img_ext.startswith('.'):
        img_ext = '.' + img_ext
    if cut_policy not in CUT_POLICIES:
        raise ValueError(f'cut_policy must be one of {CUT_POLICIES}, '
                         f'got {cut_policy!r}')
    if out_img_dir is not None:
        if img_dir is None:
            raise ValueError('img_dir is required to write patch images')
        out_img_dir = Path(out_img_dir)
        out_img_dir.mkdir(parents=True, exist_ok=True)

    anns_by_img: Dict[int, List[dict]] = {}
    for ann in coco['annotations']:
        anns_by_img.setdefault(ann['image_id'], []).append(ann)

    summary = dict(
        images=0, patches=0, empty_patches=0, skipped_empty=0, objects=0,
        patch_objects=0, cut_kept=0, cut_ignored=0, cut_dropped=0,
        ignored_regions=0, objects_never_whole=0, unreadable=[],
        size_mismatch=[], patch_size=patch_size, stride=stride,
        min_visible=min_visible, cut_policy=cut_policy)
    images, annotations = [], []
    for info in maybe_tqdm(
            sorted(coco['images'], key=lambda i: i['id']),
            len(coco['images']), 'split', progress):
        width, height = int(info['width']), int(info['height'])
        pil_img = None
        if out_img_dir is not None:
            pil_img = _open_image(Path(img_dir) / info['file_name'], summary)
            if pil_img is None:
                continue
            if pil_img.size != (width, height):
                summary['size_mismatch'].append(info['file_name'])
                warnings.warn(
                    f"{info['file_name']}: image is {pil_img.size[0]}x"
                    f'{pil_img.size[1]} but the JSON says {width}x{height}; '
                    'skipped')
                continue
        summary['images'] += 1
        anns = anns_by_img.get(info['id'], [])
        ign = np.array([_is_ignored(a) for a in anns], dtype=bool)
        obj_anns = [a for a, i in zip(anns, ign) if not i]
        ign_anns = [a for a, i in zip(anns, ign) if i]
        obj_boxes, ign_boxes = _xywh_to_xyxy(obj_anns), _xywh_to_xyxy(ign_anns)
        summary['objects'] += len(obj_anns)
        whole_somewhere = np.zeros(len(obj_anns), dtype=bool)

        stem = Path(info['file_name']).with_suffix('').as_posix().replace(
            '/', '__')
        ext = img_ext or Path(info['file_name']).suffix
        for window in sliding_windows(width, height, patch_size, stride):
            x0, y0, x1, y1 = (int(v) for v in window)
            o_box, o_vis = assign_to_window(obj_boxes, window)
            i_box, i_vis = assign_to_window(ign_boxes, window)
            whole_somewhere |= o_vis >= 1.0
            # strictly more, as the DOTA devkit and CFINet's split script
            keep = (o_vis > min_visible) | (o_vis >= 1.0)
            cut = (o_vis > 0) & ~keep
            if skip_empty and not keep.any():
                summary['skipped_empty'] += 1
                continue
            image_id = len(images) + 1
            file_name = f'{stem}__{x0}_{y0}{ext}'
            images.append(
                dict(
                    id=image_id, file_name=file_name, width=x1 - x0,
                    height=y1 - y0, orig_image_id=info['id'],
                    orig_file_name=info['file_name'], orig_width=width,
                    orig_height=height, x_offset=x0, y_offset=y0))
            summary['patches'] += 1
            summary['empty_patches'] += int(not keep.any())
            summary['patch_objects'] += int(keep.sum())
            summary['cut_kept'] += int((keep & (o_vis < 1.0)).sum())
            if cut_policy == 'ignore':
                summary['cut_ignored'] += int(cut.sum())
            else:
                summary['cut_dropped'] += int(cut.sum())
            summary['ignored_regions'] += int((i_vis > 0).sum())

            for k in np.flatnonzero(keep):
                src = obj_anns[k]
                box = _xyxy_to_xywh(o_box[k])
                ann = dict(
                    id=len(annotations) + 1, image_id=image_id,
                    category_id=src['category_id'], bbox=box,
                    area=box[2] * box[3], iscrowd=0, orig_ann_id=src['id'])
                ann.update((key, val) for key, val in src.items()
                           if key not in _GEOMETRY_KEYS and key not in ann)
                annotations.append(ann)
            regions = [(i_box[k], ign_anns[k]['id'], None)
                       for k in np.flatnonzero(i_vis > 0)]
            if cut_policy == 'ignore':
                regions += [(o_box[k], obj_anns[k]['id'],
                             obj_anns[k]['category_id'])
                            for k in np.flatnonzero(cut)]
            for box, orig_id, cut_cat in regions:
                box = _xyxy_to_xywh(box)
                extra = dict(orig_ann_id=orig_id)
                if cut_cat is not None:
                    extra['cut_category_id'] = cut_cat
                annotations.append(
                    dict(
                        id=len(annotations) + 1, image_id=image_id,
                        category_id=0, bbox=box, area=box[2] * box[3],
                        iscrowd=1, ignore=1, **extra))
            if pil_img is not None:
                _save_patch(pil_img.crop((x0, y0, x1, y1)),
                            out_img_dir / file_name, jpeg_quality)
        summary['objects_never_whole'] += int((~whole_somewhere).sum())
        if pil_img is not None:
            pil_img.close()

    patch_coco = dict(
        images=images,
        annotations=annotations,
        categories=[dict(c) for c in coco['categories']])
    return patch_coco, summary


def _xyxy_to_xywh(box: np.ndarray) -> List[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def _open_image(path: Path, summary: dict):
    """Open an image lazily (no decode yet); None and a warning on failure."""
    from PIL import Image  # lazy: only the converters need PIL
    # DOTA images reach 20000 x 20000 px, beyond PIL's decompression-bomb
    # guard; the files come from the dataset the user downloaded. The guard
    # is lifted for this call only.
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        img = Image.open(path)
        img.load()
    except Exception as e:  # noqa: BLE001 - any decoder error is skipped
        summary['unreadable'].append(path.name)
        warnings.warn(f'{path}: unreadable image ({e}), skipped')
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    return img


def _save_patch(patch, path: Path, jpeg_quality: int) -> None:
    if path.suffix.lower() in ('.jpg', '.jpeg'):
        if patch.mode not in ('RGB', 'L'):
            patch = patch.convert('RGB')
        patch.save(path, quality=jpeg_quality)
    else:
        patch.save(path)


def split_coco_file(full_json: PathLike,
                    img_dir: Optional[PathLike],
                    out_json: PathLike,
                    out_img_dir: Optional[PathLike],
                    **kwargs) -> dict:
    """Split the images of a full-image COCO JSON file into patches.

    Args:
        full_json: the full-image COCO JSON (written by a crossdino
            converter).
        img_dir: folder the full-image ``file_name`` s are relative to.
        out_json: the patch COCO JSON to write (atomically).
        out_img_dir: folder for the patch images (None: no images).
        **kwargs: see :func:`build_patch_coco`.

    Returns:
        dict: the summary of :func:`build_patch_coco` plus ``full_json`` and
        ``out_json``.
    """
    with open(full_json, encoding='utf-8') as f:
        coco = json.load(f)
    patch_coco, summary = build_patch_coco(coco, img_dir, out_img_dir,
                                           **kwargs)
    dump_json_atomic(patch_coco, out_json)
    summary.update(full_json=str(full_json), out_json=str(out_json))
    return summary


def split_dataset_split(full_json: PathLike, img_dir: PathLike,
                        out_dir: PathLike, prefix: str, split: str,
                        **kwargs) -> dict:
    """Patch one converted split the way the dataset CLIs lay it out.

    Writes ``OUT_DIR/annotations/<prefix>-<split>-<tag>.json`` and the patch
    images under ``OUT_DIR/patches/<split>-<tag>/`` (``tag`` from
    :func:`patch_tag`, as the dataset configs expect). ``skip_empty``
    applies to the train split only: evaluation needs every patch.

    Args:
        full_json: the split's full-image COCO JSON.
        img_dir: folder its ``file_name`` s are relative to.
        out_dir: root of ``annotations/`` and ``patches/``.
        prefix: dataset name in the file name, e.g. ``'dota-v1.5'``.
        split: ``'train'``, ``'val'`` or ``'test'``.
        **kwargs: see :func:`build_patch_coco` (``patch_size`` and ``stride``
            required).

    Returns:
        dict: see :func:`split_coco_file`.
    """
    out_dir = Path(out_dir)
    tag = patch_tag(kwargs['patch_size'], kwargs['stride'])
    kwargs['skip_empty'] = kwargs.get('skip_empty', False) and \
        split == 'train'
    return split_coco_file(
        full_json, img_dir,
        out_dir / 'annotations' / f'{prefix}-{split}-{tag}.json',
        out_dir / 'patches' / f'{split}-{tag}', **kwargs)


def format_patch_summary(summary: dict) -> str:
    """Render a :func:`build_patch_coco` summary as a text table."""
    gap = summary['patch_size'] - summary['stride']
    rows = [
        ('patch / stride (gap)', f"{summary['patch_size']} / "
         f"{summary['stride']} ({gap})"),
        ('images split', str(summary['images'])),
        ('patches written', f"{summary['patches']} "
         f"({summary['empty_patches']} without objects)"),
        ('empty patches skipped', str(summary['skipped_empty'])),
        ('objects (full images)', str(summary['objects'])),
        ('objects (patches)', str(summary['patch_objects'])),
        (f"cut, kept (> {summary['min_visible']:g} visible)",
         str(summary['cut_kept'])),
        ('cut, now ignored regions', str(summary['cut_ignored'])),
        ('cut, dropped', str(summary['cut_dropped'])),
        ('ignored regions (patches)', str(summary['ignored_regions'])),
        ('objects never whole in a patch',
         str(summary['objects_never_whole'])),
    ]
    for key, label in (('unreadable', 'unreadable images'),
                       ('size_mismatch', 'size differs from JSON')):
        names = summary[key]
        rows.append((label, str(len(names)) +
                     (f': {preview(names)}' if names else '')))
    header = 'patch split'
    if 'full_json' in summary:
        header += f" {summary['full_json']} -> {summary['out_json']}"
    return format_table(header, rows)


def add_patch_arguments(parser, preset: str) -> None:
    """Add the patch-split options of the CLIs, defaulting to ``preset``.

    Adds ``--patch-size``, ``--gap`` / ``--stride`` (exclusive; gap =
    patch - stride), ``--min-visible``, ``--cut-policy``, ``--skip-empty``
    and ``--img-ext`` to an ``argparse.ArgumentParser``.
    """
    cfg = PATCH_PRESETS[preset]
    group = parser.add_argument_group(
        f'patch split (defaults: the {preset} protocol)')
    parser.set_defaults(_preset_gap=cfg['patch_size'] - cfg['stride'])
    group.add_argument(
        '--patch-size', type=int, default=cfg['patch_size'],
        help=f"patch side in px (default {cfg['patch_size']})")
    step = group.add_mutually_exclusive_group()
    step.add_argument(
        '--gap', type=int, default=None,
        help='overlap of neighbouring patches in px, stride = patch - gap '
        f"(default {cfg['patch_size'] - cfg['stride']})")
    step.add_argument(
        '--stride', type=int, default=None,
        help=f"distance between patch starts in px (default {cfg['stride']})")
    group.add_argument(
        '--min-visible', type=float, default=cfg['min_visible'],
        help='keep a cut object when more than this fraction of its area is '
        f"inside the patch (default {cfg['min_visible']})")
    group.add_argument(
        '--cut-policy', choices=CUT_POLICIES, default='ignore',
        help='what becomes of objects cut below --min-visible: ignored '
        'regions (default) or nothing')
    group.add_argument(
        '--skip-empty', action='store_true',
        help='leave out patches without objects (training sets only: the '
        'merge-back evaluation needs every patch)')
    group.add_argument(
        '--img-ext', default=None,
        help='patch image extension, e.g. .png (default: the source\'s)')


def patch_kwargs(args) -> dict:
    """:func:`build_patch_coco` keyword arguments from parsed CLI args."""
    if args.stride is not None:
        stride = args.stride
    elif args.gap is not None:
        stride = args.patch_size - args.gap
    else:
        # the preset's gap, kept when only --patch-size changes
        stride = args.patch_size - (args._preset_gap)
    if stride <= 0:
        raise ValueError(f'stride must be > 0, got {stride} (gap >= patch '
                         'size?)')
    return dict(
        patch_size=args.patch_size, stride=stride,
        min_visible=args.min_visible, cut_policy=args.cut_policy,
        skip_empty=args.skip_empty, img_ext=args.img_ext)
