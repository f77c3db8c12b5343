"""Crop windows for test-time cropping: candidates, scores, the budget rule,
and the missed-object coverage that ranks window choosers.

All windows are ``(n, 4)`` xyxy float tensors in network-input pixels (the
first pass's ``img_shape``) and live on the host: they index a handful of
crops per image.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.ops import bbox_overlaps
from mmdet.structures.bbox import get_box_tensor
from torch import Tensor


def _positions(size: int, win: int, step: int) -> Tensor:
    """Start offsets of windows of ``win`` px stepping ``step`` over ``size``,
    the last one flush with the end."""
    if win >= size:
        return torch.zeros(1)
    pos = torch.arange(0, size - win + 1, max(step, 1), dtype=torch.float32)
    if pos[-1] < size - win:
        pos = torch.cat([pos, pos.new_tensor([size - win])])
    return pos


def window_size(img_hw: Tuple[int, int],
                ratio: Union[float, Tuple[float, float]]) -> Tuple[int, int]:
    """(h, w) in pixels of a window whose sides are ``ratio`` of the image's
    (one float, or (rh, rw)), rounded down; at least 1 px, at most the
    image."""
    h, w = img_hw
    rh, rw = (ratio, ratio) if isinstance(ratio, (int, float)) else ratio
    # floor: half of 1067 px is 533, so that at crop scale 2 a half-side
    # window never costs more than the image (rounding gives 534 -> 1068)
    return (min(h, max(1, int(h * rh + 1e-9))),
            min(w, max(1, int(w * rw + 1e-9))))


def sliding_windows(img_hw: Tuple[int, int],
                    window_ratios: Sequence[Union[float, Tuple[float, float]]],
                    stride_ratio: float = 0.5) -> Tensor:
    """Candidate windows of several sizes sliding over an image.

    Args:
        img_hw (tuple[int, int]): image (h, w) in pixels.
        window_ratios: window sides as a fraction of the image side, one
            float (same fraction of both sides) or (rh, rw) per window size.
        stride_ratio (float): step as a fraction of the window side.

    Returns:
        Tensor: (n, 4) integer-valued xyxy windows inside the image.
    """
    h, w = img_hw
    boxes = []
    for r in window_ratios:
        wh, ww = window_size(img_hw, r)
        ys = _positions(h, wh, round(wh * stride_ratio))
        xs = _positions(w, ww, round(ww * stride_ratio))
        yy, xx = torch.meshgrid(ys, xs, indexing='ij')
        yy, xx = yy.flatten(), xx.flatten()
        boxes.append(torch.stack([xx, yy, xx + ww, yy + wh], 1))
    return torch.cat(boxes)


def uniform_windows(img_hw: Tuple[int, int],
                    grid: Optional[Tuple[int, int]] = (2, 2),
                    overlap_ratio: float = 0.2,
                    tile_hw: Optional[Tuple[int, int]] = None) -> Tensor:
    """SAHI-style tiling with overlap covering the image.

    Either a ``grid`` of ``rows x cols`` tiles, of side ``side / (n - (n - 1)
    * overlap)`` so that neighbours overlap by ``overlap_ratio`` of a tile;
    or (``grid=None``) tiles of ``tile_hw`` pixels, as few per axis as
    overlap by at least ``overlap_ratio``.

    Returns:
        Tensor: (rows*cols, 4) integer-valued xyxy tiles, row-major.
    """
    h, w = img_hw
    if grid is None:
        if tile_hw is None:
            raise ValueError('uniform_windows needs a grid or a tile size')
        th, tw = min(h, tile_hw[0]), min(w, tile_hw[1])
        step = 1 - overlap_ratio
        grid = (1 + max(0, math.ceil((h - th) / (th * step) - 1e-9)),
                1 + max(0, math.ceil((w - tw) / (tw * step) - 1e-9)))
    else:
        th = min(h, math.ceil(h / (grid[0] - (grid[0] - 1) * overlap_ratio)))
        tw = min(w, math.ceil(w / (grid[1] - (grid[1] - 1) * overlap_ratio)))
    rows, cols = grid
    ys = torch.linspace(0, h - th, rows).round() if rows > 1 else \
        torch.zeros(1)
    xs = torch.linspace(0, w - tw, cols).round() if cols > 1 else \
        torch.zeros(1)
    yy, xx = torch.meshgrid(ys, xs, indexing='ij')
    yy, xx = yy.flatten(), xx.flatten()
    return torch.stack([xx, yy, xx + tw, yy + th], 1)


def spread_order(windows: Tensor) -> Tensor:
    """An order of tiles whose every prefix is spread over the image.

    Farthest-point order of the tile centres (each axis scaled to the
    grid's extent): the first tile, then always the tile farthest from those
    taken (ties to the lower index), so that a budget that pays for K of N
    tiles takes K tiles far apart (the four corners of a 3x3 grid of
    half-side tiles, which cover the image) instead of the first row.

    Args:
        windows (Tensor): (n, 4) xyxy tiles.

    Returns:
        Tensor: (n,) long.
    """
    n = len(windows)
    if n == 0:
        return torch.zeros(0, dtype=torch.long)
    centres = (windows[:, :2] + windows[:, 2:]).double() / 2
    # in units of the grid's extent per axis: a wide image's rows count as
    # much as its columns
    span = (centres.amax(0) - centres.amin(0)).clamp(min=1e-9)
    dist = torch.cdist(centres / span, centres / span)
    order = [0]
    nearest = dist[0].clone()
    for _ in range(n - 1):  # a few tiles
        nearest[order] = -1
        nxt = int(nearest.argmax())
        order.append(nxt)
        nearest = torch.minimum(nearest, dist[nxt])
    return torch.tensor(order, dtype=torch.long)


def window_map_sums(maps: Tensor, windows: Tensor, stride: float,
                    img_hw: Tuple[int, int]) -> Tensor:
    """Sums of grid maps over windows, via integral images.

    Cells of the padded grid outside the image (``img_hw``) count as zero:
    attention that lands on batch padding never makes a window attractive.

    Args:
        maps (Tensor): (m, gh, gw) maps of one image on a grid of
            ``stride`` input pixels per cell.
        windows (Tensor): (n, 4) xyxy in input pixels.
        stride (float): input pixels per cell.
        img_hw (tuple): the image's valid (h, w).

    Returns:
        Tensor: (m, n) window sums, and the sums over the whole valid image
        as the last column: (m, n + 1).
    """
    h, w = img_hw
    vh = min(maps.shape[-2], math.ceil(h / stride))
    vw = min(maps.shape[-1], math.ceil(w / stride))
    integ = F.pad(maps[:, :vh, :vw].double().cumsum(1).cumsum(2),
                  (1, 0, 1, 0))
    win = torch.cat([windows, windows.new_tensor([[0, 0, w, h]])]).to(
        maps.device)
    x0 = (win[:, 0] / stride).floor().long().clamp(0, vw)
    y0 = (win[:, 1] / stride).floor().long().clamp(0, vh)
    x1 = (win[:, 2] / stride).ceil().long().clamp(0, vw)
    y1 = (win[:, 3] / stride).ceil().long().clamp(0, vh)
    sums = integ[:, y1, x1] - integ[:, y0, x1] - integ[:, y1, x0] + \
        integ[:, y0, x0]
    return sums.to(maps.dtype)


def score_windows(saliency: Tensor, sae: Optional[Tensor], windows: Tensor,
                  stride: float, img_hw: Tuple[int, int],
                  num_heads: int = 1) -> dict:
    """Mass share, entropy and area-normalised score of windows.

    With ``S`` the probe's mass map and ``SAE / log H`` the normalised
    entropy (ViCrop-Det, Methodology), a window ``w`` has the mass share
    ``m(w) = sum_w S / sum_image S`` and the mass-weighted entropy
    ``e(w) = sum_w S*SAE / (sum_w S log H)``; ``sae=None`` (a probe without
    entropy) gives ``e = 1``. ``score(w) = m(w) * e(w) / a(w)`` with ``a(w)``
    the window's share of the image area: value per pixel spent, so windows
    of several sizes compete fairly under a pixel budget (one size: the
    ranking of ``m * e``).

    Args:
        saliency (Tensor): (gh, gw) non-negative mass map of one image.
        sae (Tensor, optional): (gh, gw) SAE in nats.
        windows (Tensor): (n, 4) xyxy in input pixels.
        stride (float): input pixels per grid cell.
        img_hw (tuple): valid image (h, w); mass outside it is ignored.
        num_heads (int): H, to normalise the entropy by log H.

    Returns:
        dict of (n,) tensors: ``mass``, ``area``, ``entropy``, ``score``.
    """
    h, w = img_hw
    maps = [saliency]
    if sae is not None:
        maps.append(saliency * sae / math.log(max(num_heads, 2)))
    sums = window_map_sums(torch.stack(maps), windows, stride, img_hw)
    total = sums[0, -1].clamp(min=1e-12)
    mass = sums[0, :-1] / total
    entropy = (sums[1, :-1] / sums[0, :-1].clamp(min=1e-12)
               if sae is not None else torch.ones_like(mass))
    win = windows.to(mass.device)
    area = (win[:, 2] - win[:, 0]) * (win[:, 3] - win[:, 1]) / float(h * w)
    return dict(mass=mass, area=area, entropy=entropy,
                score=mass * entropy / area)


def select_windows(windows: Tensor, scores: Tensor, valid: Tensor,
                   iou_thr: Optional[float], max_crops: Optional[int],
                   cost: Tensor, budget: Optional[float]) -> Tensor:
    """Best qualifying windows under a count and a pixel budget (greedy).

    Qualifying windows are visited in score order; a window is taken when
    its ``cost`` fits what is left of ``budget`` and it overlaps no window
    already taken by more than IoU ``iou_thr`` (None: any overlap). A
    window that does not fit is skipped, not the end of the search, and
    suppresses nothing; at most ``max_crops`` are taken.

    Args:
        windows (Tensor): (n, 4) xyxy.
        scores (Tensor): (n,).
        valid (Tensor): (n,) bool, qualifying windows.
        iou_thr (float, optional): window NMS threshold.
        max_crops (int, optional): None = no count limit.
        cost (Tensor): (n,) extra pixels each window costs (padding
            included).
        budget (float, optional): extra pixels; None = unlimited.

    Returns:
        Tensor: (k,) long indices into ``windows``, best first.
    """
    idx = valid.nonzero().flatten()
    if idx.numel() == 0 or max_crops == 0 or (budget is not None
                                              and budget <= 0):
        return idx[:0]
    idx = idx[scores[idx].argsort(descending=True, stable=True)]
    iou = bbox_overlaps(windows[idx].float(), windows[idx].float())
    left = math.inf if budget is None else budget + 1e-6
    taken: list = []
    for i, c in enumerate(cost[idx].tolist()):  # a few dozen windows
        if max_crops is not None and len(taken) >= max_crops:
            break
        if c > left or (iou_thr is not None and taken
                        and bool((iou[i, taken] > iou_thr).any())):
            continue
        taken.append(i)
        left -= c
    return idx[taken]


def boxes_inside(boxes: Tensor, windows: Tensor, tol: float = 0.0) -> Tensor:
    """(n_boxes, n_windows) bool: box lies inside the window (``tol`` px)."""
    b, w = boxes[:, None], windows[None].to(boxes)
    return ((b[..., 0] >= w[..., 0] - tol) & (b[..., 1] >= w[..., 1] - tol) &
            (b[..., 2] <= w[..., 2] + tol) & (b[..., 3] <= w[..., 3] + tol))


def missed_objects(gt_boxes: Tensor, gt_labels: Tensor, det_boxes: Tensor,
                   det_scores: Tensor, det_labels: Tensor,
                   score_thr: float = 0.3, iou_thr: float = 0.5) -> Tensor:
    """Ground truths the first pass did not find.

    A ground truth is found when a detection of its class with score at least
    ``score_thr`` overlaps it with IoU at least ``iou_thr`` (no one-to-one
    matching: this asks whether the detector saw the object at all).

    Returns:
        Tensor: (n_gt,) bool, True = missed.
    """
    keep = det_scores >= score_thr
    if gt_boxes.numel() == 0 or not keep.any():
        return torch.ones(len(gt_boxes), dtype=torch.bool,
                          device=gt_boxes.device)
    iou = bbox_overlaps(gt_boxes.float(), det_boxes[keep].float())
    same = gt_labels[:, None] == det_labels[keep][None]
    return ~((iou >= iou_thr) & same).any(1)


def missed_ground_truth(sample, pred, score_thr: float = 0.3) -> Tensor:
    """The ground truths of a sample that its first pass missed
    (:func:`missed_objects`), in network-input pixels.

    Args:
        sample (DetDataSample): with ``gt_instances`` in original pixels
            (mmdet's test pipelines load annotations after ``Resize``) and
            ``scale_factor``.
        pred (InstanceData): first-pass detections in original pixels (the
            detector's ``predict(rescale=True)``).
        score_thr (float): a detection from this score on finds objects.

    Returns:
        Tensor: (n_missed, 4) xyxy, on the ground truth's device.
    """
    gt = sample.gt_instances
    boxes = get_box_tensor(gt.bboxes).float()
    pred = pred.to(boxes.device)
    miss = missed_objects(boxes, gt.labels, pred.bboxes, pred.scores,
                          pred.labels, score_thr)
    sf = boxes.new_tensor(sample.metainfo['scale_factor']).repeat(2)
    return boxes[miss] * sf


def oracle_windows(windows: Tensor, targets: Tensor, cost: Tensor,
                   budget: Optional[float], max_crops: Optional[int],
                   tol: float = 0.0) -> Tensor:
    """Windows that cover the most ``targets`` boxes (greedy set cover).

    The upper bound of a window chooser: with the missed ground truths as
    ``targets`` it shows how many misses the budget could reach at all.
    Same budget rule as :func:`select_windows`; windows that add no new
    target are not taken.

    Returns:
        Tensor: (k,) long indices into ``windows``.
    """
    if len(targets) == 0 or max_crops == 0:
        return torch.zeros(0, dtype=torch.long)
    inside = boxes_inside(targets, windows, tol)  # (n_t, n_w)
    left = math.inf if budget is None else budget + 1e-6
    open_ = torch.ones(len(targets), dtype=torch.bool)
    fits = torch.ones(len(windows), dtype=torch.bool)
    taken = []
    while max_crops is None or len(taken) < max_crops:
        fits &= cost <= left
        gain = (inside & open_[:, None]).sum(0) * fits
        best = int(gain.argmax())
        if gain[best] == 0:
            break
        taken.append(best)
        left -= float(cost[best])
        open_ &= ~inside[:, best]
        fits[best] = False
    return torch.tensor(taken, dtype=torch.long)


def window_coverage(targets: Tensor, windows: Tensor,
                    tol: float = 0.0) -> Tensor:
    """(n_targets,) bool: the box lies inside at least one window."""
    if len(windows) == 0 or len(targets) == 0:
        return torch.zeros(len(targets), dtype=torch.bool)
    return boxes_inside(targets, windows, tol).any(1)
