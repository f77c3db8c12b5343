"""The 'aerial' profile of the synthetic VisDrone-format generator.

The proxy benchmark's data (``tools/benchmarks/compare.py``): images that
behave like drone imagery where small-object methods matter, at a scale a CPU
trains on in minutes. Compared with the demo profile
(:mod:`crossdino.datasets.synthetic_visdrone`):

- originals larger than the network input (768x432 by default; the proxy
  configs resize them to 512x288), so that test-time methods can crop
  detail the resized input has lost;
- most objects very tiny or tiny: the side ``sqrt(w * h)`` is drawn from a
  mixture, 5 % in 2-4 px, 57 % in 4-16 px, 38 % in 16-64 px (log-uniform
  within each part): 62 % of the drawn sides are under 16 px and 33.5 %
  under 8 px (more in the annotations: clustered objects are capped at 24 px
  and truncated boxes lose a part);
- dense scenes: 60 % of the images hold 100-300 objects, most of them in
  1-4 Gaussian clusters ("car parks", "crowds") around empty land; the rest
  hold 10-60 scattered objects;
- classes that differ in shape and texture (solid, stripes, checker, dark
  core) as well as in a muted colour; the texture shows from about 6 px on;
- clutter: grey blobs, and class-coloured bars and corners whose shapes no
  class has (hard negatives); ignored regions over unlabeled crowds, as in
  VisDrone; "others" boxes and truncation at the border.

Randomness comes only from the per-image generator the caller passes, so the
output is byte-identical for a seed.
"""
import math
from typing import List, Tuple

import numpy as np

from .synthetic_visdrone import (_OTHERS_PROB, _TRUNCATE_PROB, SHAPES,
                                 _annotation_rows, _background, _blend,
                                 _draw_crowds, _draw_object, _draw_strokes,
                                 _fits, _push_out, _shape_alpha)

__all__ = ['AERIAL_CLASS_STYLES', 'SIZE_MIXTURE', 'render_aerial_image']

# (shape, texture, RGB) of VisDrone categories 1..10. Each class has its
# own colour (muted, so that clutter in the same colours is plausible) and
# differs from the class of the nearest colour by shape and texture as well.
AERIAL_CLASS_STYLES = (
    ('disk', 'solid', (205, 60, 55)),  # 1 pedestrian: red
    ('cross', 'stripes', (215, 130, 50)),  # 2 people: orange
    ('triangle', 'solid', (205, 190, 60)),  # 3 bicycle: yellow
    ('hollow', 'checker', (130, 190, 60)),  # 4 car: lime
    ('square', 'stripes', (60, 165, 85)),  # 5 van: green
    ('disk', 'core', (60, 185, 185)),  # 6 truck: teal
    ('cross', 'solid', (65, 120, 210)),  # 7 tricycle: blue
    ('square', 'checker', (110, 80, 200)),  # 8 awning-tricycle: indigo
    ('triangle', 'core', (180, 80, 195)),  # 9 bus: purple
    ('hollow', 'stripes', (215, 105, 160)),  # 10 motor: pink
)
_CROWD_STYLES = tuple((shape, rgb) for shape, _, rgb in AERIAL_CLASS_STYLES)
TEXTURES = ('solid', 'stripes', 'checker', 'core')
# (probability, lo, hi) of the object side in pixels, log-uniform in [lo, hi).
SIZE_MIXTURE = ((0.05, 2, 4), (0.57, 4, 16), (0.38, 16, 64))
_DENSE_PROB = 0.6
_DENSE_OBJECTS = 100  # dense scenes hold at least this many objects
_SPARSE_OBJECTS = 60  # sparse scenes at most this many
_MAX_OVERLAP = 0.2
_PLACEMENT_TRIES = 20


def _texture(texture: str, w: int, h: int, colour: np.ndarray) -> np.ndarray:
    """Per-pixel colours of a ``w`` x ``h`` object: (h, w, 3) float32.

    Patterns have a period of about a third of the object (at least 2 px), so
    they show from about 6 px on and vanish below, as real detail does.
    """
    period = max(2, round(min(w, h) / 3))
    yy, xx = np.mgrid[0:h, 0:w]
    if texture == 'solid':
        shade = np.ones((h, w), np.float32)
    elif texture == 'stripes':
        shade = np.where((xx // max(1, period // 2)) % 2 == 0, 1.0, 0.55)
    elif texture == 'checker':
        cell = max(1, period // 2)
        shade = np.where((xx // cell + yy // cell) % 2 == 0, 1.0, 0.55)
    elif texture == 'core':
        # a dark centre, like a roof vent or a rider
        cx, cy = (w - 1) / 2, (h - 1) / 2
        r = ((xx - cx) / max(w / 2, 1))**2 + ((yy - cy) / max(h / 2, 1))**2
        shade = np.where(r < 0.2, 0.35, 1.0)
    else:
        raise ValueError(f'unknown texture {texture!r}, expected one of '
                         f'{TEXTURES}')
    return (shade[..., None] * colour).astype(np.float32)


def _sample_side(rng: np.random.Generator) -> float:
    """An object side from :data:`SIZE_MIXTURE`."""
    probs = np.array([p for p, _, _ in SIZE_MIXTURE])
    _, lo, hi = SIZE_MIXTURE[rng.choice(len(SIZE_MIXTURE), p=probs)]
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _sample_aerial_wh(rng: np.random.Generator, limit: Tuple[int, int],
                      max_side: float) -> Tuple[int, int]:
    """Box (w, h): a side from :data:`SIZE_MIXTURE` capped at ``max_side``,
    aspect ratio exp(U(-0.4, 0.4)), each of w, h in [2, 64] and ``limit``."""
    side = min(_sample_side(rng), max_side)
    ratio = math.exp(rng.uniform(-0.4, 0.4))
    w = max(2, min(round(side * ratio), 64, limit[0]))
    h = max(2, min(round(side / ratio), 64, limit[1]))
    return w, h


def _scene(rng: np.random.Generator, width: int, height: int,
           objects_per_image: Tuple[int, int]) -> Tuple[int, np.ndarray]:
    """Number of objects and their cluster layout.

    Returns:
        tuple: the object count and (C, 3) clusters ``cx, cy, sigma``; an
        object belongs to a cluster with probability 0.85 in dense scenes
        and is scattered uniformly otherwise (C = 0 in sparse scenes).
    """
    lo, hi = objects_per_image
    if rng.random() < _DENSE_PROB and hi >= _DENSE_OBJECTS:
        num = int(rng.integers(max(lo, _DENSE_OBJECTS), hi + 1))
        k = int(rng.integers(1, 5))
        # Spread grows with the members per cluster so that they fit.
        sigma = rng.uniform(1.0, 1.6, k) * math.sqrt(num / k) * 5
        centres = rng.uniform(0.1, 0.9, (k, 2)) * (width, height)
        return num, np.column_stack([centres, sigma])
    num = int(rng.integers(lo, min(hi, _SPARSE_OBJECTS) + 1))
    return num, np.zeros((0, 3))


def _place(rng: np.random.Generator, width: int, height: int,
           cats: List[int], clusters: np.ndarray, forbidden: np.ndarray
           ) -> Tuple[np.ndarray, List[int], List[int]]:
    """Sample boxes for ``cats`` by rejection, around ``clusters``.

    A box must not touch ``forbidden`` (K, 4) regions and may cover at most
    ``_MAX_OVERLAP`` of a smaller placed box; objects finding no spot in
    ``_PLACEMENT_TRIES`` are left out.

    Returns:
        tuple: (N, 4) unclipped xyxy boxes (truncated ones reach out of the
        image), their categories and truncation flags.
    """
    boxes = np.zeros((len(cats), 4))
    kept, truncation = [], []
    for cat in cats:
        clustered = len(clusters) and rng.random() < 0.85
        c = clusters[rng.integers(len(clusters))] if clustered else None
        for _ in range(_PLACEMENT_TRIES):
            # Clustered objects are small (vehicles in a car park, people in
            # a crowd); scattered ones take the whole size range.
            w, h = _sample_aerial_wh(rng, (width, height),
                                     24 if clustered else 64)
            if clustered:
                cx, cy = rng.normal(c[:2], c[2])
                x, y = int(round(cx - w / 2)), int(round(cy - h / 2))
                if not (0 <= x <= width - w and 0 <= y <= height - h):
                    continue
            else:
                x = int(rng.integers(0, width - w + 1))
                y = int(rng.integers(0, height - h + 1))
            trunc = 0
            if not clustered and cat != 11 and rng.random() < _TRUNCATE_PROB:
                x, y, trunc = _push_out(rng, x, y, w, h, width, height)
            box = np.array([x, y, x + w, y + h], dtype=float)
            if not _fits(box, boxes[:len(kept)], forbidden, width, height,
                         _MAX_OVERLAP):
                continue
            boxes[len(kept)] = box
            kept.append(cat)
            truncation.append(trunc)
            break
    return boxes[:len(kept)], kept, truncation


def _draw_aerial_object(rng: np.random.Generator, img: np.ndarray,
                        box: np.ndarray, cat: int) -> None:
    """Draw a category ``cat`` (1..10) object filling ``box``."""
    x, y, x2, y2 = box.astype(int).tolist()
    w, h = x2 - x, y2 - y
    shape, texture, base = AERIAL_CLASS_STYLES[cat - 1]
    colour = (np.asarray(base) * rng.uniform(0.8, 1.1) +
              rng.uniform(-15, 15, 3)).astype(np.float32)
    alpha = _shape_alpha(shape, w, h)
    _blend(img, alpha * np.float32(0.35), x + 1, y + 1,
           np.zeros(3, np.float32))
    _blend(img, alpha, x, y, _texture(texture, w, h, colour))


def _draw_clutter(rng: np.random.Generator, img: np.ndarray,
                  clusters: np.ndarray) -> None:
    """Hard negatives: grey blobs of class shapes, and bars and corners in
    class colours (shapes no class has), partly near the clusters."""
    H, W = img.shape[:2]
    for _ in range(rng.integers(15, 41)):
        w, h = _sample_aerial_wh(rng, (W, H), 64)
        if len(clusters) and rng.random() < 0.4:
            c = clusters[rng.integers(len(clusters))]
            x, y = (int(v) for v in rng.normal(c[:2], 1.5 * c[2]))
        else:
            x, y = int(rng.integers(-w // 2, W)), int(rng.integers(-h // 2, H))
        kind = rng.random()
        if kind < 0.4:
            grey = rng.uniform(50, 210) + rng.uniform(-8, 8, 3)
            _blend(img, _shape_alpha(SHAPES[rng.integers(5)], w, h), x, y,
                   grey.astype(np.float32))
            continue
        base = np.asarray(AERIAL_CLASS_STYLES[rng.integers(10)][2])
        colour = (base * rng.uniform(0.7, 1.1) +
                  rng.uniform(-20, 20, 3)).astype(np.float32)
        if kind < 0.75:  # a bar: elongated 3:1 to 6:1
            long = max(w, h)
            short = max(1, round(long / rng.uniform(3, 6)))
            w, h = (long, short) if rng.random() < 0.5 else (short, long)
            alpha = np.ones((h, w), np.float32)
        else:  # a corner: an L of two bars
            t = max(1, round(min(w, h) / 3))
            alpha = np.zeros((h, w), np.float32)
            alpha[:, :t] = 1
            alpha[-t:, :] = 1
        _blend(img, alpha, x, y, colour)


def render_aerial_image(rng: np.random.Generator, width: int, height: int,
                        objects_per_image: Tuple[int, int],
                        size_range: Tuple[float, float]
                        ) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one aerial-profile image and its VisDrone annotation rows.

    Args:
        rng: the image's own generator.
        width, height: image size.
        objects_per_image: inclusive range of labeled objects; dense scenes
            draw from ``[max(min, 100), max]``, sparse ones from
            ``[min, min(max, 60)]``.
        size_range: accepted for the generator's common signature; the
            sizes follow :data:`SIZE_MIXTURE` (2-64 px).

    Returns:
        tuple: (H, W, 3) uint8 RGB image and (N, 8) int64 rows ``left, top,
        width, height, score, category, truncation, occlusion``.
    """
    del size_range  # the profile's mixture defines the sizes
    img = _draw_strokes(rng, _background(rng, width, height))
    num, clusters = _scene(rng, width, height, objects_per_image)
    _draw_clutter(rng, img, clusters)
    regions = _draw_crowds(
        rng, img, num=(0, 3), side=(40, 120), members=(20, 60),
        member_side=8, styles=_CROWD_STYLES)
    cats = rng.integers(1, 11, size=num).tolist()
    if rng.random() < _OTHERS_PROB:
        cats.insert(0, 11)
    boxes, cats, truncation = _place(rng, width, height, cats, clusters,
                                     regions)
    for box, cat in zip(boxes, cats):
        if cat == 11:
            _draw_object(rng, img, box, cat)
        else:
            _draw_aerial_object(rng, img, box, cat)
    img += 3.0 * rng.standard_normal(img.shape, dtype=np.float32)  # sensor
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return img, _annotation_rows(boxes, cats, truncation, regions, width,
                                 height)
