"""A small synthetic dataset in the VisDrone2019-DET format.

Lets crossdino's training, evaluation and tests run end to end without the
real (non-redistributable) data. Images mimic the difficulties VisDrone is
known for, at a scale a CPU can train on in minutes:

- cluttered backgrounds: smooth, low-saturation colour noise with grey
  strokes ("roads", "markings") and grey object-sized blobs as hard negatives;
- many tiny objects, side 2..64 px, log-uniform so most are tiny, of 10
  classes that differ by colour (saturated, unlike the background) and, once
  large enough to show it, by shape;
- ignored regions (category 0) covering unlabeled crowds of tiny objects,
  occasional "others" boxes (category 11) and objects truncated by the image
  border (truncation 1).

The output is byte-identical for a given seed and parameters: all randomness
comes from per-image ``numpy.random.Generator`` streams, and images are JPEG
(quality 95, no chroma subsampling so that 2-pixel objects keep their
colour). Layout::

    out_root/
        synthetic_meta.json
        VisDrone2019-DET-{train,val}/images/0000001.jpg
        VisDrone2019-DET-{train,val}/annotations/0000001.txt
"""
import functools
import json
import math
import re
import shutil
import zlib
from pathlib import Path
from types import MappingProxyType
from typing import Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

__all__ = [
    'DEFAULT_NUM_IMAGES', 'CLASS_STYLES', 'PROFILES', 'generate_synthetic_visdrone',
    'synthetic_params', 'synthetic_up_to_date'
]

# Bump when the rendered output changes, so cached datasets are regenerated.
GENERATOR_VERSION = 1
META_FILE = 'synthetic_meta.json'
DEFAULT_NUM_IMAGES = MappingProxyType({'train': 128, 'val': 32})
# Image size and objects per image of each profile: 'demo' for the embedded
# demo (small images, 8-24 objects); 'aerial' for the proxy benchmark (large
# originals, dense clusters, mostly very tiny objects; see
# crossdino/datasets/synthetic_aerial.py).
PROFILES = MappingProxyType({
    'demo': dict(img_size=(256, 192), objects_per_image=(8, 24)),
    'aerial': dict(img_size=(768, 432), objects_per_image=(10, 300)),
})

# (shape, RGB) of VisDrone categories 1..10. Every colour is unique and
# saturated, so a 2-pixel object is still classifiable; each shape is shared
# by two classes with clearly different colours.
CLASS_STYLES = (
    ('disk', (225, 35, 35)),  # 1 pedestrian: red
    ('cross', (245, 140, 20)),  # 2 people: orange
    ('triangle', (235, 215, 30)),  # 3 bicycle: yellow
    ('square', (35, 100, 235)),  # 4 car: blue
    ('hollow', (30, 205, 225)),  # 5 van: cyan
    ('square', (140, 55, 215)),  # 6 truck: purple
    ('triangle', (225, 50, 195)),  # 7 tricycle: magenta
    ('hollow', (35, 170, 60)),  # 8 awning-tricycle: green
    ('cross', (160, 240, 60)),  # 9 bus: lime
    ('disk', (255, 140, 190)),  # 10 motor: pink
)
SHAPES = ('square', 'hollow', 'disk', 'triangle', 'cross')

_SUPERSAMPLE = 4  # anti-aliasing samples per pixel side
_MAX_OVERLAP = 0.25  # intersection / smaller box area allowed between objects
_TRUNCATE_PROB = 0.08
_OTHERS_PROB = 0.35
_PLACEMENT_TRIES = 30
_SPLIT_NAME_RE = re.compile(r'[A-Za-z0-9_-]+')

PathLike = Union[str, Path]


@functools.lru_cache(maxsize=4096)
def _shape_alpha(shape: str, w: int, h: int) -> np.ndarray:
    """Anti-aliased coverage of ``shape`` filling a ``w`` x ``h`` box.

    Returns:
        np.ndarray: (h, w) float32 in [0, 1]. Read-only (it is cached).
    """
    s = _SUPERSAMPLE
    # Sample centres in box-normalised coordinates in (-1, 1).
    u = (np.arange(w * s) + 0.5) / (w * s) * 2 - 1
    v = (np.arange(h * s) + 0.5) / (h * s) * 2 - 1
    uu, vv = np.meshgrid(u, v)
    if shape == 'square':
        mask = np.ones_like(uu, dtype=bool)
    elif shape == 'hollow':
        # A ring at least one pixel thick; tiny ones degenerate to squares.
        t = max(1, round(0.22 * min(w, h)))
        mask = (np.abs(uu) > 1 - 2 * t / w) | (np.abs(vv) > 1 - 2 * t / h)
    elif shape == 'disk':
        mask = uu**2 + vv**2 <= 1
    elif shape == 'triangle':  # apex up, base on the bottom edge
        mask = np.abs(uu) <= (vv + 1) / 2
    elif shape == 'cross':
        mask = (np.abs(uu) <= 1 / 3) | (np.abs(vv) <= 1 / 3)
    else:
        raise ValueError(f'unknown shape {shape!r}, expected one of {SHAPES}')
    alpha = mask.reshape(h, s, w, s).mean(axis=(1, 3), dtype=np.float32)
    alpha.flags.writeable = False
    return alpha


def _blend(img: np.ndarray, alpha: np.ndarray, x: int, y: int,
           colour: np.ndarray) -> None:
    """Alpha-blend a ``colour`` patch with top-left (x, y) into ``img``.

    Args:
        img: (H, W, 3) float32 image, modified in place.
        alpha: (h, w) coverage; the parts outside the image are cut off.
        x, y: top-left corner, may be negative.
        colour: (3, ) RGB, or (h, w, 3) per-pixel colours.
    """
    H, W = img.shape[:2]
    h, w = alpha.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x0 >= x1 or y0 >= y1:
        return
    a = alpha[y0 - y:y1 - y, x0 - x:x1 - x, None]
    if colour.ndim == 3:
        colour = colour[y0 - y:y1 - y, x0 - x:x1 - x]
    region = img[y0:y1, x0:x1]
    region += a * (colour - region)


def _upsample_bilinear(grid: np.ndarray, height: int,
                       width: int) -> np.ndarray:
    """Bilinearly resize a (gh, gw, C) grid to (height, width, C)."""

    def weights(n_out: int, n_in: int) -> np.ndarray:
        pos = np.linspace(0, n_in - 1, n_out)
        lo = np.minimum(pos.astype(int), n_in - 2)
        frac = pos - lo
        m = np.zeros((n_out, n_in), dtype=np.float32)
        m[np.arange(n_out), lo] = 1 - frac
        m[np.arange(n_out), lo + 1] = frac
        return m

    wy = weights(height, grid.shape[0])
    wx = weights(width, grid.shape[1])
    grid = grid.astype(np.float32)
    rows = (wy @ grid.reshape(grid.shape[0], -1)).reshape(height, -1,
                                                             grid.shape[2])
    return wx @ rows  # (W, gw) @ (H, gw, C) -> (H, W, C)


def _background(rng: np.random.Generator, width: int,
                height: int) -> np.ndarray:
    """Smooth low-saturation terrain: (H, W, 3) float32 in 0..255."""
    base = rng.uniform(85, 165) + rng.uniform(-18, 18, size=3)
    img = np.broadcast_to(base.astype(np.float32), (height, width, 3)).copy()
    # Two octaves of value noise; luminance dominates chroma so the
    # background never takes a saturated class colour.
    for cells, lum, chroma in ((3, 30, 10), (9, 14, 5)):
        gh, gw = cells + 1, cells * width // height + 2
        grid = (rng.normal(0, lum, (gh, gw, 1)) +
                rng.normal(0, chroma, (gh, gw, 3)))
        img += _upsample_bilinear(grid, height, width)
    return img


def _draw_strokes(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Grey lines and ellipses (roads, markings, roofs) drawn with PIL."""
    from PIL import Image, ImageDraw
    H, W = img.shape[:2]
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    for _ in range(rng.integers(4, 11)):
        tone = tuple(
            int(c) for c in rng.uniform(40, 215) + rng.uniform(-8, 8, 3))
        if rng.random() < 0.6:
            pts = rng.uniform(-0.2, 1.2, (2, 2)) * (W, H)
            draw.line([tuple(p) for p in pts.tolist()],
                      fill=tone,
                      width=int(rng.integers(1, 6)))
        else:
            cx, cy = rng.uniform(0, 1, 2) * (W, H)
            rx, ry = rng.uniform(4, 0.15 * min(W, H), 2)
            draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=tone)
    return np.asarray(pil, dtype=np.float32).copy()


def _sample_wh(rng: np.random.Generator, size_range: Tuple[float, float],
               limit: Tuple[int, int]) -> Tuple[int, int]:
    """Box size with side sqrt(w*h) log-uniform in ``size_range``."""
    side = math.exp(rng.uniform(math.log(size_range[0]),
                                math.log(size_range[1])))
    ratio = math.exp(rng.uniform(-0.4, 0.4))
    lo, hi = math.ceil(size_range[0]), math.floor(size_range[1])
    w = max(lo, min(round(side * ratio), hi, limit[0]))
    h = max(lo, min(round(side / ratio), hi, limit[1]))
    return w, h


def _inter(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection areas of one xyxy ``box`` with (N, 4) xyxy ``boxes``."""
    wh = (np.minimum(box[2:], boxes[:, 2:]) -
          np.maximum(box[:2], boxes[:, :2])).clip(min=0)
    return wh[:, 0] * wh[:, 1]


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def _clip(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip (..., 4) xyxy boxes to the image."""
    return np.minimum(np.maximum(boxes, 0), [width, height, width, height])


def _draw_crowds(rng: np.random.Generator, img: np.ndarray,
                 num: Tuple[int, int] = (0, 2),
                 side: Tuple[int, int] = (20, 56),
                 members: Tuple[int, int] = (8, 20),
                 member_side: int = 6,
                 styles=CLASS_STYLES) -> np.ndarray:
    """Draw ``num`` crowds of unlabeled tiny objects; return them as ignored
    regions, (K, 4) float xyxy inside the image.

    Ranges are inclusive: a crowd is a ``side`` x ``side`` box holding
    ``members`` objects of 2..``member_side`` px, drawn in ``styles``
    (``(shape, RGB)`` per class).
    """
    H, W = img.shape[:2]
    regions = np.zeros((0, 4))
    for _ in range(rng.integers(num[0], num[1] + 1)):
        w = int(rng.integers(side[0], min(side[1], W) + 1))
        h = int(rng.integers(side[0], min(side[1], H) + 1))
        x = int(rng.integers(0, W - w + 1))
        y = int(rng.integers(0, H - h + 1))
        box = np.array([x, y, x + w, y + h], dtype=float)
        if _inter(box, regions).any():
            continue
        regions = np.vstack([regions, box])
        for _ in range(rng.integers(members[0], members[1] + 1)):
            cw, ch = _sample_wh(rng, (2, min(member_side, w, h)), (w, h))
            shape, colour = styles[rng.integers(len(styles))]
            _blend(img, _shape_alpha(shape, cw, ch),
                   x + int(rng.integers(0, w - cw + 1)),
                   y + int(rng.integers(0, h - ch + 1)),
                   np.asarray(colour, np.float32))
    return regions


def _push_out(rng: np.random.Generator, x: int, y: int, w: int, h: int,
              width: int, height: int) -> Tuple[int, int, int]:
    """Push a ``w`` x ``h`` box at (x, y) out across one image border,
    hiding at most half of it and keeping at least 2 px visible.

    Returns:
        tuple: the new top-left corner and the truncation flag (0 when the
        box is too small to truncate and stays where it was).
    """
    side = int(rng.integers(4))
    extent = w if side < 2 else h
    hidden = int(rng.integers(1, extent // 2 + 1))
    if extent - hidden < 2:
        return x, y, 0
    x = (-hidden, width - w + hidden, x, x)[side]
    y = (y, y, -hidden, height - h + hidden)[side]
    return x, y, 1


def _fits(box: np.ndarray, placed: np.ndarray, forbidden: np.ndarray,
          width: int, height: int, max_overlap: float) -> bool:
    """Whether the visible part of xyxy ``box`` avoids the (K, 4)
    ``forbidden`` regions and covers at most ``max_overlap`` of any smaller
    (N, 4) ``placed`` box (both taken inside the image)."""
    visible = _clip(box, width, height)
    if _inter(visible, forbidden).any():
        return False
    placed = _clip(placed, width, height)
    smaller = np.minimum(_area(visible), _area(placed))
    return not (_inter(visible, placed) > max_overlap * smaller).any()


def _place_objects(rng: np.random.Generator, width: int, height: int,
                   cats: List[int], size_range: Tuple[float, float],
                   forbidden: np.ndarray) -> Tuple[np.ndarray, List[int],
                                                   List[int]]:
    """Sample non-overlapping boxes for ``cats`` by rejection.

    A box must not touch ``forbidden`` (K, 4) regions and may cover at most
    ``_MAX_OVERLAP`` of a smaller placed box. Objects that find no spot in
    ``_PLACEMENT_TRIES`` are left out.

    Returns:
        tuple: (N, 4) float unclipped xyxy boxes (truncated ones reach out of
        the image), their categories and truncation flags.
    """
    boxes, kept, truncation = np.zeros((0, 4)), [], []
    for cat in cats:
        for _ in range(_PLACEMENT_TRIES):
            w, h = _sample_wh(rng, size_range, (width, height))
            x = int(rng.integers(0, width - w + 1))
            y = int(rng.integers(0, height - h + 1))
            trunc = 0
            if cat != 11 and rng.random() < _TRUNCATE_PROB:
                x, y, trunc = _push_out(rng, x, y, w, h, width, height)
            box = np.array([x, y, x + w, y + h], dtype=float)
            if not _fits(box, boxes, forbidden, width, height, _MAX_OVERLAP):
                continue
            boxes = np.vstack([boxes, box])
            kept.append(cat)
            truncation.append(trunc)
            break
    return boxes, kept, truncation


def _draw_object(rng: np.random.Generator, img: np.ndarray, box: np.ndarray,
                 cat: int) -> None:
    """Draw a VisDrone category ``cat`` (1..11) object filling ``box``."""
    x, y, x2, y2 = box.astype(int).tolist()
    w, h = x2 - x, y2 - y
    if cat == 11:  # "others": a two-tone striped slab, unlike any class
        stripes = (np.arange(w) // max(1, w // 6)) % 2
        colour = np.where(stripes[None, :, None], 240.0, 70.0)
        colour = np.broadcast_to(colour, (h, w, 3)).astype(np.float32)
        alpha = _shape_alpha('square', w, h)
    else:
        shape, base = CLASS_STYLES[cat - 1]
        colour = (np.asarray(base) * rng.uniform(0.85, 1.08) +
                  rng.uniform(-12, 12, 3)).astype(np.float32)
        alpha = _shape_alpha(shape, w, h)
    # A soft shadow down-right separates objects from the clutter.
    _blend(img, alpha * np.float32(0.35), x + 1, y + 1,
           np.zeros(3, np.float32))
    _blend(img, alpha, x, y, colour)


def _render_image(rng: np.random.Generator, width: int, height: int,
                  objects_per_image: Tuple[int, int],
                  size_range: Tuple[float, float]
                  ) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one image and its VisDrone annotation rows.

    Returns:
        tuple: (H, W, 3) uint8 RGB image and (N, 8) int64 rows
        ``left, top, width, height, score, category, truncation, occlusion``
        with boxes clipped to the image.
    """
    img = _draw_strokes(rng, _background(rng, width, height))

    # Grey object-sized blobs: hard negatives that differ only by colour.
    for _ in range(rng.integers(3, 9)):
        w, h = _sample_wh(rng, size_range, (width, height))
        x, y = rng.integers(-w // 2, width), rng.integers(-h // 2, height)
        grey = rng.uniform(50, 210) + rng.uniform(-8, 8, 3)
        _blend(img, _shape_alpha(SHAPES[rng.integers(5)], w, h), int(x),
               int(y), grey.astype(np.float32))

    regions = _draw_crowds(rng, img)

    # Objects, and now and then one "others" box (category 11).
    num = int(rng.integers(objects_per_image[0], objects_per_image[1] + 1))
    cats = rng.integers(1, 11, size=num).tolist()
    if rng.random() < _OTHERS_PROB:
        cats.insert(0, 11)
    boxes, cats, truncation = _place_objects(rng, width, height, cats,
                                             size_range, regions)
    for box, cat in zip(boxes, cats):
        _draw_object(rng, img, box, cat)

    img += 2.5 * rng.standard_normal(img.shape, dtype=np.float32)  # sensor
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return img, _annotation_rows(boxes, cats, truncation, regions, width,
                                 height)


def _annotation_rows(boxes: np.ndarray, cats: List[int],
                     truncation: List[int], regions: np.ndarray, width: int,
                     height: int) -> np.ndarray:
    """VisDrone annotation rows of drawn objects and ignored regions.

    Args:
        boxes: (N, 4) unclipped xyxy boxes in drawing order.
        cats: N VisDrone categories (1..11).
        truncation: N flags.
        regions: (K, 4) xyxy ignored regions.

    Returns:
        np.ndarray: (N + K, 8) int64 rows ``left, top, width, height, score,
        category, truncation, occlusion`` with boxes clipped to the image.
    """
    # Occlusion by objects drawn later, in VisDrone's levels: 0 none,
    # 1 up to 50 %, 2 more than 50 % of the box covered.
    boxes = _clip(boxes, width, height)
    cats = np.array(cats, dtype=int)
    covered = np.array([_inter(b, boxes) for b in boxes]).reshape(
        len(boxes), len(boxes)) / _area(boxes)[:, None]
    covered = np.triu(covered, k=1).sum(axis=1)
    occlusion = np.where(covered == 0, 0, np.where(covered <= 0.5, 1, 2))
    is_obj = cats != 11
    objects = np.column_stack([
        boxes[:, :2], boxes[:, 2:] - boxes[:, :2], is_obj, cats, truncation,
        np.where(is_obj, occlusion, 0)
    ])
    # Ignored regions: score, category, truncation, occlusion all 0.
    ignored = np.column_stack([
        regions[:, :2], regions[:, 2:] - regions[:, :2],
        np.zeros((len(regions), 4))
    ])
    return np.concatenate([objects, ignored]).astype(np.int64)


def synthetic_params(num_images: Optional[Mapping[str, int]] = None,
                     img_size: Optional[Tuple[int, int]] = None,
                     objects_per_image: Optional[Tuple[int, int]] = None,
                     size_range: Tuple[float, float] = (2, 64),
                     seed: int = 0,
                     profile: str = 'demo') -> dict:
    """Validated, JSON-ready parameters, as stored in ``synthetic_meta.json``.

    ``img_size`` and ``objects_per_image`` default to the profile's
    (:data:`PROFILES`).

    Raises:
        ValueError: naming the offending parameter.
    """
    if profile not in PROFILES:
        raise ValueError(f'profile: expected one of {sorted(PROFILES)}, got '
                         f'{profile!r}')
    defaults = PROFILES[profile]
    img_size = defaults['img_size'] if img_size is None else img_size
    if objects_per_image is None:
        objects_per_image = defaults['objects_per_image']
    num_images = dict(DEFAULT_NUM_IMAGES if num_images is None else num_images)
    for split, n in num_images.items():
        if not isinstance(split, str) or not _SPLIT_NAME_RE.fullmatch(split):
            raise ValueError(f'num_images: bad split name {split!r}')
        if int(n) != n or n < 0:
            raise ValueError(f'num_images[{split!r}]: expected an integer '
                             f'>= 0, got {n!r}')
    w, h = (int(v) for v in img_size)
    lo, hi = (int(v) for v in objects_per_image)
    smin, smax = (float(v) for v in size_range)
    if w < 32 or h < 32:
        raise ValueError(f'img_size: expected (w, h) >= 32, got {img_size}')
    if not 0 <= lo <= hi:
        raise ValueError('objects_per_image: expected 0 <= min <= max, got '
                         f'{objects_per_image}')
    if not 2 <= smin <= smax <= min(w, h):
        raise ValueError('size_range: expected 2 <= min <= max <= '
                         f'min(img_size), got {size_range}')
    return dict(
        version=GENERATOR_VERSION,
        num_images={k: int(v)
                    for k, v in num_images.items()},
        img_size=[w, h],
        objects_per_image=[lo, hi],
        size_range=[smin, smax],
        seed=int(seed),
        profile=profile)


def _split_dir(out_root: Path, split: str) -> Path:
    return out_root / f'VisDrone2019-DET-{split}'


def synthetic_up_to_date(out_root: PathLike, params: dict) -> bool:
    """Whether ``out_root`` holds a complete dataset made with ``params``.

    Args:
        out_root: the generator's output folder.
        params: from :func:`synthetic_params`.
    """
    out_root = Path(out_root)
    try:
        meta = json.loads((out_root / META_FILE).read_text())
    except (OSError, ValueError):
        return False
    if meta.get('params') != params:
        return False
    for split, n in params['num_images'].items():
        folder = _split_dir(out_root, split)
        if (len(list(folder.glob('images/*.jpg'))) != n
                or len(list(folder.glob('annotations/*.txt'))) != n):
            return False
    return True


def generate_synthetic_visdrone(
        out_root: PathLike,
        num_images: Optional[Mapping[str, int]] = None,
        img_size: Optional[Tuple[int, int]] = None,
        objects_per_image: Optional[Tuple[int, int]] = None,
        size_range: Tuple[float, float] = (2, 64),
        seed: int = 0,
        profile: str = 'demo') -> dict:
    """Write a synthetic dataset in the official VisDrone2019-DET layout.

    Args:
        out_root: output folder; ``VisDrone2019-DET-<split>/`` folders are
            (re)created in it. A folder that holds such split folders but no
            ``synthetic_meta.json`` (e.g. the real dataset) is refused.
        num_images: ``{split: number of images}``; default
            ``{'train': 128, 'val': 32}``.
        img_size: ``(width, height)`` in pixels; default: the profile's.
        objects_per_image: inclusive range of labeled objects per image
            (fewer when the placement finds no free spot); default: the
            profile's.
        size_range: range of the object side ``sqrt(w * h)`` in pixels,
            sampled log-uniformly; each of w and h also stays in the range.
        seed: images are a pure function of ``(seed, split, index)``.
        profile: 'demo' (this module's images) or 'aerial' (the proxy
            benchmark's, :mod:`crossdino.datasets.synthetic_aerial`; sizes
            follow its own mixture, ``size_range`` is not used).

    Returns:
        dict: ``{'out_root', 'params', 'splits': {split: {'images',
        'objects', 'ignored_regions', 'others'}}}``.

    Raises:
        FileExistsError: ``out_root`` holds split folders not made here.
        ValueError: invalid parameters (see :func:`synthetic_params`).
    """
    from PIL import Image
    params = synthetic_params(num_images, img_size, objects_per_image,
                              size_range, seed, profile)
    if profile == 'aerial':
        from .synthetic_aerial import render_aerial_image as render
    else:
        render = _render_image
    out_root = Path(out_root)
    meta_path = out_root / META_FILE
    splits = params['num_images']
    if meta_path.exists():
        # Stale splits of an earlier run would otherwise survive.
        old = json.loads(meta_path.read_text()).get('params', {})
        for split in old.get('num_images', {}):
            if split not in splits and _SPLIT_NAME_RE.fullmatch(split):
                shutil.rmtree(_split_dir(out_root, split), ignore_errors=True)
    else:
        foreign = [
            str(_split_dir(out_root, s)) for s in splits
            if _split_dir(out_root, s).exists()
        ]
        if foreign:
            raise FileExistsError(
                f'{foreign[0]} exists and {meta_path} does not: refusing to '
                'overwrite data the synthetic generator did not write')
    # Drop the meta first: an interrupted run must not look complete.
    meta_path.unlink(missing_ok=True)

    width, height = params['img_size']
    stats: Dict[str, Dict[str, int]] = {}
    for split, n in splits.items():
        folder = _split_dir(out_root, split)
        shutil.rmtree(folder, ignore_errors=True)
        (folder / 'images').mkdir(parents=True)
        (folder / 'annotations').mkdir()
        split_key = zlib.crc32(split.encode())  # stable, unlike hash()
        counts = np.zeros(12, dtype=np.int64)
        for i in range(n):
            rng = np.random.default_rng([params['seed'], split_key, i])
            img, rows = render(rng, width, height,
                               params['objects_per_image'],
                               params['size_range'])
            stem = f'{i + 1:07d}'
            Image.fromarray(img).save(
                folder / 'images' / f'{stem}.jpg',
                format='JPEG',
                quality=95,
                subsampling=0)
            # The official files use CRLF line endings.
            text = ''.join(','.join(map(str, r)) + '\r\n'
                           for r in rows.tolist())
            (folder / 'annotations' / f'{stem}.txt').write_bytes(
                text.encode('ascii'))
            counts += np.bincount(rows[:, 5], minlength=12)
        stats[split] = dict(
            images=n,
            objects=int(counts[1:11].sum()),
            ignored_regions=int(counts[0]),
            others=int(counts[11]))

    meta_path.write_text(json.dumps(dict(params=params, splits=stats),
                                    indent=2))
    return dict(out_root=str(out_root), params=params, splits=stats)
