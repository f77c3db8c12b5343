"""Pieces shared by crossdino's dataset converters.

Every converter writes the same COCO layout (see
:mod:`crossdino.datasets.converters.visdrone`): images with ids 1.. in file
name order, ``[x, y, w, h]`` float boxes clipped to the image, objects with
``iscrowd: 0`` and ignored regions as ``category_id: 0, iscrowd: 1,
ignore: 1``, and a summary dict rendered by :func:`format_table`.
"""
import json
import math
import os
import os.path as osp
import tempfile
import warnings
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    'PathLike', 'SIZE_RANGES', 'IMG_EXTENSIONS', 'clip_xywh',
    'size_bucket_counts', 'list_files', 'read_image_size',
    'image_decode_error', 'size_or_skip',
    'maybe_tqdm',
    'dump_json_atomic', 'preview', 'format_table', 'instance_rows',
    'cleanup_rows', 'name_list_rows', 'ignored_region_ann', 'exit_on_error',
    'numbered_lines', 'add_cleaning_arguments', 'MAX_SKIPPED', 'add_skipped',
    'format_skipped'
]

PathLike = Union[str, os.PathLike]

# Object size ranges on sqrt(box area) in pixels: AI-TOD's very tiny / tiny /
# small split, with COCO medium and large merged, plus a bucket for the
# sub-2-pixel boxes that no detector can be expected to find.
SIZE_RANGES = (
    ('<2', 0.0, 2.0),
    ('very_tiny', 2.0, 8.0),
    ('tiny', 8.0, 16.0),
    ('small', 16.0, 32.0),
    ('medium+', 32.0, math.inf),
)

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff')

# Skipped malformed entries (``--no-strict``) listed under a summary; the
# rest are only counted, so a badly broken file cannot flood the console.
MAX_SKIPPED = 20


def numbered_lines(path: PathLike) -> List[Tuple[int, str]]:
    """``(line number, text)`` of the non-blank lines of an annotation file.

    LF and CRLF endings and a UTF-8 BOM are accepted; numbers count from 1
    over all lines, blank ones included, so errors can cite ``path:line``.
    """
    with open(path, encoding='utf-8-sig') as f:
        lines = f.read().splitlines()
    return [(i, line) for i, line in enumerate(lines, 1) if line.strip()]


def clip_xywh(xywh: np.ndarray, width: int, height: int,
              min_size: float = 0.0
              ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip ``[x, y, w, h]`` boxes to the image and flag degenerate ones.

    Args:
        xywh: (N, 4) boxes, any numeric dtype.
        width, height: image size in pixels.
        min_size: boxes whose clipped width or height is ``<= min_size`` are
            flagged for dropping (0 flags only empty boxes).

    Returns:
        tuple: ``(clipped_xywh, keep, clipped)``: (N, 4) float64 boxes and
        two (N,) bool masks (``clipped`` is True where clipping changed a
        coordinate).
    """
    xywh = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    x1y1 = xywh[:, :2]
    x2y2 = x1y1 + xywh[:, 2:]
    lim = np.array([width, height], dtype=np.float64)
    cx1y1 = np.clip(x1y1, 0, lim)
    cx2y2 = np.clip(x2y2, 0, lim)
    wh = cx2y2 - cx1y1
    keep = (wh > min_size).all(axis=1)
    clipped = ((cx1y1 != x1y1) | (cx2y2 != x2y2)).any(axis=1)
    return np.concatenate([cx1y1, wh], axis=1), keep, clipped


def size_bucket_counts(xywh: np.ndarray) -> Dict[str, int]:
    """Count boxes per :data:`SIZE_RANGES` bucket of sqrt(area)."""
    xywh = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    side = np.sqrt(xywh[:, 2] * xywh[:, 3])
    return {
        name: int(((side >= lo) & (side < hi)).sum())
        for name, lo, hi in SIZE_RANGES
    }


def list_files(folder: Path, extensions: Sequence[str]) -> Dict[str, Path]:
    """Map file stem -> path for files in ``folder`` with ``extensions``.

    Raises:
        ValueError: two files share a stem (e.g. ``a.jpg`` and ``a.png``).
    """
    files: Dict[str, Path] = {}
    for path in sorted(Path(folder).iterdir()):
        if not path.is_file() or path.suffix.lower() not in extensions:
            continue
        if path.stem in files:
            raise ValueError(f'{folder}: two files share the stem '
                             f'{path.stem!r}: {files[path.stem].name} and '
                             f'{path.name}')
        files[path.stem] = path
    return files


def read_image_size(path: PathLike) -> Tuple[int, int]:
    """(width, height) from the image header, without decoding pixels."""
    from PIL import Image  # lazy: only the converters need PIL

    # Only the header is read, so PIL's decompression-bomb limit (179 Mpx)
    # does not apply; DOTA images reach 20000 x 20000 px.
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(path) as img:
            width, height = img.size
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    if width <= 0 or height <= 0:
        raise ValueError(f'invalid image size {width}x{height}')
    return width, height


def image_decode_error(path: PathLike) -> str:
    """Why the image at ``path`` cannot be decoded ('' when it can).

    Decodes every pixel: a header can be intact while the data is cut off
    (an interrupted download or copy), which only full decoding finds;
    training would otherwise stop at that image with a decoder error.
    """
    from PIL import Image  # lazy: only the converters need PIL

    try:
        if os.path.getsize(path) == 0:
            return 'empty file (0 bytes)'
        # Full-size DOTA images exceed PIL's decompression-bomb limit.
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(path) as img:
                img.load()
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    except Exception as e:  # noqa: BLE001 - any decoder error is the answer
        return f'{type(e).__name__}: {e}'
    return ''


def size_or_skip(path: PathLike, name: str,
                 unreadable: List[str]) -> Optional[Tuple[int, int]]:
    """:func:`read_image_size`, or None for an unreadable image.

    An unreadable image is skipped, not fatal: ``name`` is appended to
    ``unreadable`` (the summary's list) and a warning names the file.
    """
    try:
        return read_image_size(path)
    except Exception as e:  # noqa: BLE001 - any decoder error is skipped
        unreadable.append(name)
        warnings.warn(f'{path}: unreadable image ({e}), skipped')
        return None


def maybe_tqdm(iterable: Iterable, total: int, desc: str, enabled: bool,
               unit: str = 'img') -> Iterable:
    """Wrap ``iterable`` in a tqdm bar when enabled and tqdm is installed."""
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False)


def dump_json_atomic(obj, path: PathLike) -> None:
    """Write ``obj`` as JSON to ``path`` via a temporary file and a rename.

    The rename is atomic on POSIX, so an interrupted run leaves either the
    previous file or none, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(obj, f, separators=(',', ':'))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def preview(names: Sequence[str], limit: int = 3) -> str:
    """First ``limit`` names, then how many more."""
    names = list(names)
    more = f', ... (+{len(names) - limit})' if len(names) > limit else ''
    return ', '.join(str(n) for n in names[:limit]) + more


def format_table(header: str, rows: Sequence[Tuple[str, str]],
                 out_json: Optional[str] = None) -> str:
    """Render ``(label, value)`` rows under ``header`` as a text table;
    ``out_json`` (the file a converter wrote) is appended to the header."""
    if out_json is not None:
        header += f' -> {out_json}'
    width = max((len(k) for k, _ in rows), default=0)
    rule = '-' * min(max(len(header), width + 20), 100)
    body = [f'{k:<{width}}  {v}'.rstrip() for k, v in rows]
    return '\n'.join([header, rule, *body, rule])


def instance_rows(summary: dict,
                  images_detail: Optional[str] = None
                  ) -> List[Tuple[str, str]]:
    """The rows every converter summary starts with.

    Args:
        summary: with ``images``, ``images_with_objects``, ``instances``,
            ``instances_per_class`` and ``instances_per_size`` (over
            :data:`SIZE_RANGES`).
        images_detail: text in brackets after the image count; defaults to
            ``'<n> with objects'``.

    Returns:
        list[tuple[str, str]]: image and instance counts, then the
        instances per class and per size with their share of all instances.
    """
    total = max(summary['instances'], 1)

    def count(n: int) -> str:
        return f'{n:>8d}  {100 * n / total:5.1f}%'

    detail = images_detail or f"{summary['images_with_objects']} with objects"
    return [
        ('images', f"{summary['images']} ({detail})"),
        ('instances', str(summary['instances'])),
        ('per class', ''),
        *((f'  {name}', count(n))
          for name, n in summary['instances_per_class'].items()),
        ('per size (sqrt area, px)', ''),
        *((f'  {name}' if name.startswith('<') else
           f'  {name} [{lo:g}, {hi:g})',
           count(summary['instances_per_size'][name]))
          for name, lo, hi in SIZE_RANGES),
    ]


def cleanup_rows(summary: dict, skipped: str = 'lines'
                 ) -> List[Tuple[str, str]]:
    """Rows for ``clipped``, ``dropped_zero_area`` and ``malformed``."""
    return [
        ('clipped boxes', str(summary['clipped'])),
        ('dropped (empty after clip)', str(summary['dropped_zero_area'])),
        (f'malformed {skipped} skipped', str(summary['malformed'])),
    ]


def add_skipped(summary: dict, skipped: Sequence[str]) -> None:
    """Record entries a non-strict converter skipped.

    Adds them to ``summary['malformed']`` (the count) and keeps the first
    :data:`MAX_SKIPPED` messages in ``summary['skipped']``: each is the error
    strict mode would raise (``"<file>:<line>: <reason>: '<text>'"``), so
    the summary says which lines were dropped, not only how many.
    """
    summary['malformed'] += len(skipped)
    room = max(MAX_SKIPPED - len(summary['skipped']), 0)
    summary['skipped'].extend(skipped[:room])


def format_skipped(summary: dict, skipped: str = 'lines') -> str:
    """The list of :func:`add_skipped` entries to print under a summary
    table ('' when nothing was skipped)."""
    listed, total = summary['skipped'], summary['malformed']
    if not total:
        return ''
    more = (f'\n  ... and {total - len(listed)} more'
            if total > len(listed) else '')
    return (f'\nskipped malformed {skipped} (--no-strict):\n' +
            '\n'.join(f'  {msg}' for msg in listed) + more)


def name_list_rows(summary: dict, keys_labels: Sequence[Tuple[str, str]]
                   ) -> List[Tuple[str, str]]:
    """``(label, '<count>: <first names>')`` rows for lists of file names."""
    rows = []
    for key, label in keys_labels:
        names = summary[key]
        rows.append((label, str(len(names)) +
                     (f': {preview(names)}' if names else '')))
    return rows


def ignored_region_ann(ann_id: int, image_id: int, box: List[float],
                       **extra) -> dict:
    """A COCO annotation for an ignored region in crossdino's layout."""
    return dict(
        id=ann_id,
        image_id=image_id,
        category_id=0,
        bbox=list(box),
        area=box[2] * box[3],
        iscrowd=1,
        ignore=1,
        **extra)


def add_cleaning_arguments(parser, skipped: str = 'lines') -> None:
    """``--min-size`` and ``--no-strict`` of the converter CLIs (read by
    the converters' ``min_size`` and ``strict`` arguments)."""
    parser.add_argument(
        '--min-size', type=float, default=0.0,
        help='drop boxes whose clipped width or height is <= this (px)')
    parser.add_argument(
        '--no-strict', action='store_true',
        help=f'skip malformed {skipped} instead of failing; the summary '
        'counts them and lists the first ones (file:line: reason)')


def exit_on_error(error: Exception, skipped: str = 'lines') -> None:
    """Exit a converter CLI with the error (it names the file and line).

    A ``ValueError`` is a malformed annotation: the message says how to skip
    and count such ``skipped`` instead.
    """
    import sys
    hint = (f' (--no-strict skips malformed {skipped})'
            if isinstance(error, ValueError) else '')
    sys.exit(f'error: {error}{hint}')
