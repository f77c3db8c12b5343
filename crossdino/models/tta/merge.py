"""Merging the detections of a first pass and its crop passes.

One clustering (:func:`greedy_clusters`) serves every option: boxes are
visited by score, an unassigned box leads a cluster and absorbs the
unassigned boxes of its class that it matches (IoU or intersection over the
smaller box, IoS). Then

- ``method='nms'`` keeps each cluster's leader (greedy NMS; with IoU it is
  exactly mmcv's class-wise ``batched_nms``);
- ``method='nmm'`` replaces the leader's box by the union of its cluster
  (greedy non-maximum merging, as SAHI's GREEDYNMM);
- ``cross_only=True`` never lets two first-pass boxes match: the detector's
  own overlapping boxes stay, only crop boxes compete with them;
- ``select='entropy'`` (ACS-Free) keeps the cluster leader's score but takes
  the box of the member whose query attended with the lowest entropy on the
  discriminative heads (:mod:`.acs_free`).
"""
from typing import Optional, Sequence

import numpy as np
import torch
from mmcv.ops import bbox_overlaps
from mmengine.structures import InstanceData
from torch import Tensor


def match_matrix(a: Tensor, b: Tensor, metric: str = 'iou') -> Tensor:
    """(n, m) IoU, or intersection over the smaller box (``'ios'``)."""
    if metric == 'iou':
        return bbox_overlaps(a.float(), b.float())
    if metric != 'ios':
        raise ValueError(f'match_metric must be iou|ios, got {metric!r}')
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    smaller = torch.minimum(area_a[:, None], area_b[None]).clamp(min=1e-6)
    return inter / smaller


def greedy_clusters(boxes: Tensor,
                    scores: Tensor,
                    labels: Tensor,
                    thr: float,
                    metric: str = 'iou',
                    group: Optional[Tensor] = None) -> Tensor:
    """Greedy score-ordered clustering of same-class boxes.

    Post-processing on the host: one (n_c, n_c) match matrix per class and
    a loop over the boxes that lead a cluster.

    Args:
        boxes (Tensor): (n, 4) xyxy.
        scores (Tensor): (n,).
        labels (Tensor): (n,).
        thr (float): boxes match when the metric exceeds ``thr``.
        metric (str): ``'iou'`` or ``'ios'``.
        group (Tensor, optional): (n,) long; boxes of the same non-negative
            group never match each other (``cross_only``: first pass = 0,
            crops = -1).

    Returns:
        Tensor: (n,) long, the index of each box's cluster leader (a leader
        points at itself).
    """
    n = len(boxes)
    leader = np.full(n, -1, dtype=np.int64)
    scores_np = scores.detach().float().cpu().numpy()
    labels_np = labels.cpu().numpy()
    for c in np.unique(labels_np):  # a class at a time bounds the matrix
        idx = np.nonzero(labels_np == c)[0]
        idx = idx[np.argsort(-scores_np[idx], kind='stable')]
        t = torch.as_tensor(idx, device=boxes.device)
        match = match_matrix(boxes[t], boxes[t], metric) > thr
        if group is not None:
            g = group[t]
            match &= ~((g[:, None] == g[None]) & (g[:, None] >= 0))
        match = match.cpu().numpy()
        free = np.ones(len(idx), dtype=bool)
        for i in range(len(idx)):
            if not free[i]:
                continue
            members = match[i] & free
            members[i] = True
            leader[idx[members]] = idx[i]
            free &= ~members
    return torch.as_tensor(leader, device=boxes.device)


def _concat(parts: Sequence[InstanceData]) -> InstanceData:
    out = InstanceData()
    for key in ('bboxes', 'scores', 'labels', 'entropy'):
        if all(key in p for p in parts):
            setattr(out, key, torch.cat([p[key] for p in parts]))
    return out


def merge_detections(parts: Sequence[InstanceData],
                     method: str = 'nms',
                     match_thr: float = 0.5,
                     match_metric: str = 'iou',
                     cross_only: bool = False,
                     select: str = 'score',
                     max_per_img: Optional[int] = None) -> InstanceData:
    """Merge the first pass (``parts[0]``) with crop passes.

    Args:
        parts (list[InstanceData]): ``bboxes`` (n, 4), ``scores`` (n,),
            ``labels`` (n,), and for ``select='entropy'`` ``entropy`` (n,);
            ``parts[0]`` is the first pass.
        method (str): ``'nms'``, ``'nmm'`` or ``'none'`` (concatenate).
        match_thr (float): duplicates match above this.
        match_metric (str): ``'iou'`` or ``'ios'``.
        cross_only (bool): first-pass boxes never match each other.
        select (str): ``'score'`` (the leader's box) or ``'entropy'``
            (ACS-Free: the lowest-entropy member's box, leader's score).
        max_per_img (int, optional): cap, best scores first.

    Returns:
        InstanceData: merged ``bboxes``, ``scores``, ``labels``, sorted by
        score.
    """
    if method not in ('nms', 'nmm', 'none'):
        raise ValueError(f'merge method must be nms|nmm|none, got {method!r}')
    if select not in ('score', 'entropy'):
        raise ValueError(f'select must be score|entropy, got {select!r}')
    det = _concat(parts)
    if select == 'entropy' and method == 'nmm':
        raise ValueError("select='entropy' keeps one member's box; "
                         "method='nmm' would replace it by the union")
    if select == 'entropy' and 'entropy' not in det:
        raise ValueError("select='entropy' needs an `entropy` per detection "
                         'in every part (ACS-Free)')
    if len(det) and method != 'none':
        group = None
        if cross_only:
            group = torch.full((len(det), ), -1, dtype=torch.long,
                               device=det.bboxes.device)
            group[:len(parts[0])] = 0
        leader = greedy_clusters(det.bboxes, det.scores, det.labels,
                                 match_thr, match_metric, group)
        heads = (leader == torch.arange(len(det), device=leader.device))
        boxes = det.bboxes.clone()
        if method == 'nmm':
            idx = leader[:, None].expand(-1, 2)
            boxes[:, :2] = boxes[:, :2].scatter_reduce(
                0, idx, det.bboxes[:, :2], 'amin', include_self=True)
            boxes[:, 2:] = boxes[:, 2:].scatter_reduce(
                0, idx, det.bboxes[:, 2:], 'amax', include_self=True)
        if select == 'entropy':
            # lowest entropy per cluster, ties to the higher score (leader)
            ent = det.entropy.float() - 1e-6 * det.scores.float()
            best = ent.new_full((len(det), ), float('inf')).scatter_reduce(
                0, leader, ent, 'amin', include_self=True)
            is_best = ent == best[leader]
            pick = torch.full_like(leader, -1).scatter_reduce(
                0, leader[is_best], is_best.nonzero().flatten(), 'amax',
                include_self=True)
            boxes[heads] = det.bboxes[pick[heads]]
        out = InstanceData()
        out.bboxes, out.scores, out.labels = (boxes[heads], det.scores[heads],
                                              det.labels[heads])
        det = out
    order = det.scores.argsort(descending=True, stable=True)
    if max_per_img is not None:
        order = order[:max_per_img]
    out = InstanceData()
    out.bboxes, out.scores = det.bboxes[order], det.scores[order]
    out.labels = det.labels[order]
    return out


def fuse_crop_scores(first: InstanceData, crop: InstanceData,
                     first_weight: float = 0.7,
                     match_thr: float = 0.5,
                     min_first_score: float = 0.3) -> Tensor:
    """Crop scores recalibrated by the first pass's evidence.

    A crop detection that overlaps (IoU above ``match_thr``) a first-pass
    detection of its class scoring at least ``min_first_score`` gets
    ``first_weight * s_first + (1 - first_weight) * s_crop`` with ``s_first``
    the best such score (the fusion that third-party summaries of ViCrop-Det
    report, 0.7 / 0.3); a crop detection of something the first pass did
    not find keeps its score.

    Returns:
        Tensor: (n_crop,) new scores.
    """
    keep = first.scores >= min_first_score
    if len(crop) == 0 or not bool(keep.any()):
        return crop.scores.clone()
    iou = bbox_overlaps(crop.bboxes.float(), first.bboxes[keep].float())
    ok = (iou > match_thr) & (crop.labels[:, None] == first.labels[keep][None])
    evidence = torch.where(ok, first.scores[keep][None].float(),
                           torch.full_like(iou, -1.0)).amax(1)
    fused = first_weight * evidence + (1 - first_weight) * crop.scores
    return torch.where(evidence >= 0, fused.to(crop.scores.dtype),
                       crop.scores)
