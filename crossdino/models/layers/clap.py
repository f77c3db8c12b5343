"""CLAP: Cropping with Adaptive overLaPping (Cross-DINO, Cao et al., IEEE TMM 2025,
appendix "Methodology of CLAP", Eq. 6-9, Fig. 8).

A deep-MLP layer whose weights are tied to a fixed token grid (``window`` x
``window``, e.g. 56 for Strip-MLP stage 1 at 224 input) is run on a feature map
of any size by

1. cutting the map into ``window`` x ``window`` tiles (zero padding at the
   bottom/right first when the map is smaller than one tile),
2. running the layer once on all tiles stacked along the batch dimension,
3. putting every tile back where it came from and averaging the positions that
   two tiles cover, then cropping the padding away.

Everything is vectorised: the tiles are gathered with ``index_select`` and put
back with ``index_add``; there is no Python loop over tiles or images, and the
tile positions are computed on the tensor's device (no host-device copies, no
``.item()``). Tiles are laid out separably: a set of row windows times a set of
column windows, so a map is tiled per axis by the same 1-D rule.

Tiling rules (one axis of length ``L``, tile ``u``; ``P = max(L, u)`` is the
length after padding):

``'even'`` (default, ours)
    ``n = ceil(P / u)`` windows, the fewest that cover the axis, with starts
    ``s_i = round(i * (P - u) / (n - 1))`` (half up), i.e. the overlap
    ``n * u - P`` is spread evenly over the ``n - 1`` seams (seam overlaps
    differ by at most one token). ``s_0 = 0`` and the last window ends at
    ``P``, and consecutive starts are at most ``u`` apart, so every position
    is covered; because ``n - 1 < P / u`` consecutive-but-one windows never
    meet, so a position is covered by one or two windows per axis (at most
    four in 2-D) and the stitch is the exact mean of those. At ``P = k * u``
    the tiles touch without overlap; at ``L = u`` there is one tile and the
    layer sees exactly the map it was trained on.

``'mlp_dino'`` (the rule of the authors' released detection code, MLP-DINO)
    ``n = 1`` if ``P == u``, else ``n = round(P / u + 0.5)`` and overlap
    ``o = round((n * u - P) / (n - 1) - 0.5)``, both with Python's
    round-half-to-even; starts ``i * (u - o)``, the last one clamped to
    ``P - u``. Kept for parity with weights fine-tuned that way. It also
    covers every position, but the banker's rounding makes it use one window
    more than needed at some exact multiples (``P = 3u`` gives 4 windows).
    No position lies in more than two tiles per axis (checked for all
    lengths up to 3000 and tiles up to 56), so the mean below equals that
    code's sequential 0.5/0.5 seam blending.

Why not the equations as printed: Eq. 6-7 give ``n = floor(L / u + 0.5)``,
which is round-to-nearest and under-covers the map whenever the fractional
part of ``L / u`` is below 0.5 (``L = 1.2u`` gives one window that misses the
last ``0.2u``; ``L = 2.4u`` gives two windows for 2.4 windows' worth of map),
and Eq. 8-9 divide the surplus by ``n - 1.5``: negative for ``n = 1``, and for
``n = 2`` (``1.5u <= L < 2u``) twice the overlap that would make the second
window end at ``L``, so it stops ``2u - L`` short of the border. The text
around them states the intent: more mini-patches so that "the entire image is
processed", with the overlap taking up the surplus ``n * u - L`` instead of
padding. ``'even'`` is that intent made exact, and the overlaps are averaged
(weight 0.5 each, as the appendix says: the mean of the two covering tiles).
"""
from typing import Callable, List, NamedTuple, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

CLAP_MODES = ('even', 'mlp_dino')


def _num_windows(padded: int, window: int, mode: str) -> Tuple[int, int]:
    """Window count and (for ``'mlp_dino'``) the per-seam overlap."""
    if mode == 'even':
        return -(-padded // window), 0
    if mode == 'mlp_dino':
        if padded == window:
            return 1, 0
        n = round(padded / window + 0.5)
        overlap = round((n * window - padded) / (n - 1) - 0.5)
        return n, overlap
    raise ValueError(f'unknown CLAP mode {mode!r}; expected one of {CLAP_MODES}')


def window_starts(length: int,
                  window: int,
                  mode: str = 'even',
                  device=None) -> Tuple[int, Tensor]:
    """Tile starts along one axis: ``(padded_length, starts)``.

    ``starts`` is a 1-D ``int64`` tensor on ``device``; it is built from
    ``arange`` on that device so that no host-to-device copy is needed.
    """
    if length < 1 or window < 1:
        raise ValueError(f'length ({length}) and window ({window}) must be >= 1')
    padded = max(length, window)
    n, overlap = _num_windows(padded, window, mode)
    i = torch.arange(n, device=device)
    if n == 1:
        return padded, i
    if mode == 'even':
        # round-half-up of i * (P - u) / (n - 1), in integer arithmetic
        starts = torch.div(
            2 * i * (padded - window) + (n - 1), 2 * (n - 1), rounding_mode='floor')
    else:
        starts = torch.clamp(i * (window - overlap), max=padded - window)
    return padded, starts


def window_plan(length: int, window: int, mode: str = 'even') -> dict:
    """The tiling of one axis in plain Python numbers (for tables and tests)."""
    padded, starts = window_starts(length, window, mode)
    starts = starts.tolist()
    seams = [a + window - b for a, b in zip(starts[:-1], starts[1:])]
    return dict(
        length=length,
        padded=padded,
        num=len(starts),
        starts=starts,
        overlaps=seams,
        covered=len(starts) * window)


class ClapLayout(NamedTuple):
    """How a (N, C, H, W) map was cut; everything :func:`clap_merge` needs."""
    batch: int
    height: int
    width: int
    padded_h: int
    padded_w: int
    num_h: int
    num_w: int
    window: int
    row_index: Tensor  # (num_h * window,) or empty: rows are the identity
    col_index: Tensor  # (num_w * window,) or empty: columns are the identity


def _axis_index(length: int, window: int, mode: str, device) -> Tuple[int, int, Tensor]:
    padded, starts = window_starts(length, window, mode, device)
    num = starts.numel()
    if num * window == padded:
        # tiles touch without overlap (always the case in 'even' mode then):
        # the gather and the scatter along this axis are the identity.
        index = starts.new_empty(0)
    else:
        index = (starts[:, None] + torch.arange(window, device=device)).reshape(-1)
    return padded, num, index


def clap_partition(x: Tensor,
                   window: int,
                   mode: str = 'even') -> Tuple[Tensor, ClapLayout]:
    """Cut ``x`` (N, C, H, W) into (N * n_h * n_w, C, window, window) tiles.

    Tiles are ordered image-major, then row-major over the tile grid.
    """
    n, c, h, w = x.shape
    padded_h, num_h, rows = _axis_index(h, window, mode, x.device)
    padded_w, num_w, cols = _axis_index(w, window, mode, x.device)
    if padded_h > h or padded_w > w:
        x = F.pad(x, (0, padded_w - w, 0, padded_h - h))
    if rows.numel():
        x = x.index_select(2, rows)
    if cols.numel():
        x = x.index_select(3, cols)
    tiles = x.reshape(n, c, num_h, window, num_w, window).permute(0, 2, 4, 1, 3, 5)
    tiles = tiles.reshape(n * num_h * num_w, c, window, window)
    layout = ClapLayout(n, h, w, padded_h, padded_w, num_h, num_w, window, rows, cols)
    return tiles, layout


def _average_into(y: Tensor, dim: int, index: Tensor, size: int) -> Tensor:
    """Scatter-add ``y`` along ``dim`` at ``index`` into ``size`` slots, then
    divide every slot by the number of tiles that wrote to it."""
    shape = list(y.shape)
    shape[dim] = size
    out = y.new_zeros(shape).index_add(dim, index, y)
    count = y.new_zeros(size).index_add(0, index, y.new_ones(index.numel()))
    view = [1] * y.dim()
    view[dim] = size
    return out / count.view(view)


def clap_merge(tiles: Tensor, layout: ClapLayout) -> Tensor:
    """Inverse of :func:`clap_partition`: stitch tiles back into (N, C', H, W).

    Overlaps are averaged one axis at a time (columns, then rows). Each axis
    sees one or two tiles per position, so identical tile values come back
    bit-exactly.
    """
    n, u = layout.batch, layout.window
    c = tiles.shape[1]
    y = tiles.reshape(n, layout.num_h, layout.num_w, c, u, u).permute(0, 3, 1, 4, 2, 5)
    y = y.reshape(n, c, layout.num_h * u, layout.num_w * u)
    if layout.col_index.numel():
        y = _average_into(y, 3, layout.col_index, layout.padded_w)
    if layout.row_index.numel():
        y = _average_into(y, 2, layout.row_index, layout.padded_h)
    if layout.padded_h > layout.height or layout.padded_w > layout.width:
        y = y[:, :, :layout.height, :layout.width]
    return y


def clap_apply(x: Tensor,
               window: int,
               fn: Callable[[Tensor], Tensor],
               mode: str = 'even') -> Tensor:
    """Run ``fn`` (tied to a ``window`` x ``window`` grid) on a map of any size."""
    tiles, layout = clap_partition(x, window, mode)
    return clap_merge(fn(tiles), layout)


def clap_window_table(height: int,
                      width: int,
                      windows: List[int],
                      strides: List[int],
                      mode: str = 'even') -> List[dict]:
    """Per-stage tiling of an ``height`` x ``width`` feature pyramid input.

    ``windows[i]`` is stage i's tile size and ``strides[i]`` its stride w.r.t.
    the (already stride-padded) image. Used by the benchmark and the docs.
    """
    rows = []
    for u, s in zip(windows, strides):
        h, w = max(height // s, 1), max(width // s, 1)
        ph, pw = window_plan(h, u, mode), window_plan(w, u, mode)
        rows.append(
            dict(
                grid=(h, w),
                window=u,
                tiles=(ph['num'], pw['num']),
                num_tiles=ph['num'] * pw['num'],
                overlaps_h=ph['overlaps'],
                overlaps_w=pw['overlaps'],
                work_ratio=ph['num'] * pw['num'] * u * u / (h * w)))
    return rows
