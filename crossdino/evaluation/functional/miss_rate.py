# Copyright (c) crossdino contributors. All rights reserved.
"""Pedestrian-detection evaluation: greedy matching, AP, recall and mMR.

Implements the protocol of Dollar et al., "Pedestrian Detection: An
Evaluation of the State of the Art" (TPAMI 2012), as used by WiderPerson
(Zhang et al., TMM 2019), IterDet and Cross-DINO (Sec. IV-A c), Table II):

* **Matching** (per image, IoU threshold 0.5). Ground truth is split into
  *objects* and *ignored* boxes (ignored regions, and objects outside the
  evaluated subset, e.g. WiderPerson 'Hard' = boxes taller than 20 px).
  Detections, highest score first, are greedily matched to the unmatched
  object with the highest IoU (``IoU >= iou_thr``); a detection left
  unmatched whose *intersection over its own area* (IoD) with some ignored
  box reaches ``ignore_iod_thr`` is removed (neither true nor false
  positive). An ignored box may absorb any number of detections. This is
  the order of Dollar's ``bbGt('evalRes')`` (an object is always preferred
  over an ignored box), computed in two steps: a sequential greedy pass over
  the objects, then one vectorised IoD test for the leftovers.
* **Curve.** The kept detections of all images are sorted by score; at each
  prefix, recall = TP / #objects, precision = TP / (TP + FP), false
  positives per image FPPI = FP / #images and miss rate MR = 1 - recall.
* **AP**: VOC all-point interpolated area under the precision/recall curve
  (precision made monotone, summed over recall steps), as in the VOC
  devkit >= 2010 and mmdet's ``average_precision(mode='area')``.
* **Recall**: the recall with all detections.
* **mMR** (log-average miss rate, :func:`log_average_miss_rate`): miss rate
  sampled at the 9 FPPI values ``10 ** linspace(-2, 0, 9)`` and averaged
  geometrically.

All boxes are ``[x1, y1, x2, y2]`` in pixels, float arrays; no torch, mmdet
or mmengine dependency.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

#: Dollar et al.'s 9 FPPI reference points, 10^-2 ... 10^0 in steps of 10^0.25.
FPPI_REFERENCE_POINTS: np.ndarray = np.logspace(-2.0, 0.0, 9)


def _pairwise_overlaps(dets: np.ndarray,
                       gts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """IoU and intersection-over-detection-area between two box sets.

    Args:
        dets (np.ndarray): Detections, shape (D, 4), xyxy.
        gts (np.ndarray): Ground truth, shape (G, 4), xyxy.

    Returns:
        tuple[np.ndarray, np.ndarray]: IoU and IoD, each shape (D, G);
        0 where the denominator is 0.
    """
    lt = np.maximum(dets[:, None, :2], gts[None, :, :2])  # (D, G, 2)
    rb = np.minimum(dets[:, None, 2:], gts[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]  # (D, G)
    area_d = np.prod(np.clip(dets[:, 2:] - dets[:, :2], 0, None), axis=1)
    area_g = np.prod(np.clip(gts[:, 2:] - gts[:, :2], 0, None), axis=1)
    union = area_d[:, None] + area_g[None, :] - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    area_d = np.broadcast_to(area_d[:, None], inter.shape)
    iod = np.divide(inter, area_d, out=np.zeros_like(inter), where=area_d > 0)
    return iou, iod


def match_image(det_bboxes: np.ndarray,
                det_scores: np.ndarray,
                gt_bboxes: np.ndarray,
                gt_ignore: Optional[np.ndarray] = None,
                iou_thr: float = 0.5,
                ignore_iod_thr: float = 0.5) -> Tuple[np.ndarray, np.ndarray]:
    """Greedy one-image matching with ignored boxes (see module docstring).

    Args:
        det_bboxes (np.ndarray): Detections, shape (D, 4), xyxy.
        det_scores (np.ndarray): Scores, shape (D, ).
        gt_bboxes (np.ndarray): Ground truth, shape (G, 4), xyxy.
        gt_ignore (np.ndarray, optional): Bool, shape (G, ): True for ignored
            boxes (ignored regions and objects outside the evaluated
            subset). None means no box is ignored.
        iou_thr (float): A detection matches an object if IoU >= this.
            Defaults to 0.5.
        ignore_iod_thr (float): An unmatched detection covered by an
            ignored box by at least this fraction of its own area is
            removed (Dollar's ``oa >= thr``). Defaults to 0.5.

    Returns:
        tuple[np.ndarray, np.ndarray]: Bool arrays of shape (D, ) in the
        input order: ``is_tp`` (matched to an object) and ``is_ignored``
        (removed by an ignored box). The rest are false positives.
    """
    det_bboxes = np.asarray(det_bboxes, dtype=np.float64).reshape(-1, 4)
    det_scores = np.asarray(det_scores, dtype=np.float64).reshape(-1)
    gt_bboxes = np.asarray(gt_bboxes, dtype=np.float64).reshape(-1, 4)
    if gt_ignore is None:
        gt_ignore = np.zeros(len(gt_bboxes), dtype=bool)
    gt_ignore = np.asarray(gt_ignore, dtype=bool).reshape(-1)
    if len(det_scores) != len(det_bboxes) or len(gt_ignore) != len(gt_bboxes):
        raise ValueError(
            f'shape mismatch: {len(det_bboxes)} boxes / {len(det_scores)} '
            f'scores, {len(gt_bboxes)} gt boxes / {len(gt_ignore)} flags.')
    num_dets = len(det_bboxes)
    is_tp = np.zeros(num_dets, dtype=bool)
    is_ignored = np.zeros(num_dets, dtype=bool)
    if num_dets == 0 or len(gt_bboxes) == 0:
        return is_tp, is_ignored

    order = np.argsort(-det_scores, kind='mergesort')  # stable, best first
    iou, iod = _pairwise_overlaps(det_bboxes[order], gt_bboxes)
    # Step 1: sequential greedy matching to objects; only detections that
    # reach iou_thr with some object can match, the others are skipped.
    obj_iou = np.where(gt_ignore[None, :], -1.0, iou)  # (D, G)
    taken = np.zeros(len(gt_bboxes), dtype=bool)
    tp_sorted = np.zeros(num_dets, dtype=bool)
    for d in np.flatnonzero((obj_iou >= iou_thr).any(axis=1)):
        cand = np.where(taken, -1.0, obj_iou[d])
        g = int(np.argmax(cand))
        if cand[g] >= iou_thr:
            taken[g] = True
            tp_sorted[d] = True
    # Step 2: unmatched detections inside an ignored box are removed.
    ign_sorted = ~tp_sorted & (
        np.where(gt_ignore[None, :], iod, -1.0) >= ignore_iod_thr).any(axis=1)
    is_tp[order] = tp_sorted
    is_ignored[order] = ign_sorted
    return is_tp, is_ignored


def log_average_miss_rate(fppi: np.ndarray,
                          miss_rate: np.ndarray,
                          ref_points: np.ndarray = FPPI_REFERENCE_POINTS,
                          eps: float = 1e-10) -> float:
    """Log-average miss rate over a FPPI / miss-rate curve (Dollar 2012).

    For each reference FPPI ``f`` the curve is sampled at its *last* point
    with ``FPPI <= f`` (the lowest miss rate reachable without exceeding
    ``f`` false positives per image). Where the curve has no point with
    ``FPPI <= f`` (its first detection already exceeds it) the miss rate is
    1 (nothing detected yet); beyond the curve's last point its final miss
    rate is used. This is the step sampling of Dollar's toolbox
    (``bbGt('compRoc')``: the curve is prefixed with ``(-inf, recall 0)``),
    not brambox's linear interpolation. The result is
    ``exp(mean(log(max(mr_i, eps))))``.

    Args:
        fppi (np.ndarray): False positives per image, non-decreasing,
            shape (N, ).
        miss_rate (np.ndarray): Miss rate at each point, shape (N, ).
        ref_points (np.ndarray): FPPI sample points. Defaults to the 9
            points ``10 ** linspace(-2, 0, 9)``.
        eps (float): Lower clamp before the log. Defaults to 1e-10.

    Returns:
        float: The log-average miss rate in ``[eps, 1]`` (1 for an empty
        curve).
    """
    fppi = np.asarray(fppi, dtype=np.float64).reshape(-1)
    miss_rate = np.asarray(miss_rate, dtype=np.float64).reshape(-1)
    if len(fppi) != len(miss_rate):
        raise ValueError(f'fppi ({len(fppi)}) and miss_rate '
                         f'({len(miss_rate)}) differ in length.')
    if np.any(np.diff(fppi) < 0):
        raise ValueError('fppi must be non-decreasing.')
    # Index of the last point with fppi <= ref, in the curve prefixed by
    # (-inf, miss rate 1).
    idx = np.searchsorted(fppi, np.asarray(ref_points), side='right')
    sampled = np.concatenate([[1.0], miss_rate])[idx]
    return float(np.exp(np.mean(np.log(np.maximum(sampled, eps)))))


def voc_all_point_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC all-point interpolated AP (area under the monotone PR curve).

    Args:
        recall (np.ndarray): Recall, non-decreasing, shape (N, ).
        precision (np.ndarray): Precision, shape (N, ).

    Returns:
        float: AP in ``[0, 1]``; 0 for an empty curve.
    """
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


class PedestrianCurve(NamedTuple):
    """Detection curve over a data set, one entry per kept detection."""
    #: Scores, sorted descending, shape (N, ).
    scores: np.ndarray
    #: Recall, shape (N, ).
    recall: np.ndarray
    #: Precision, shape (N, ).
    precision: np.ndarray
    #: False positives per image, shape (N, ).
    fppi: np.ndarray
    #: Number of (non-ignored) objects.
    num_gts: int
    #: Number of images.
    num_images: int


def pedestrian_curve(dets: Sequence[Tuple[np.ndarray, np.ndarray]],
                     gts: Sequence[Tuple[np.ndarray, np.ndarray]],
                     iou_thr: float = 0.5,
                     ignore_iod_thr: float = 0.5) -> PedestrianCurve:
    """Match every image and build the data-set curve.

    Args:
        dets (Sequence[tuple[np.ndarray, np.ndarray]]): Per image,
            ``(bboxes (D, 4) xyxy, scores (D, ))``.
        gts (Sequence[tuple[np.ndarray, np.ndarray]]): Per image (same
            order), ``(bboxes (G, 4) xyxy, ignore flags (G, ))``.
        iou_thr (float): See :func:`match_image`.
        ignore_iod_thr (float): See :func:`match_image`.

    Returns:
        PedestrianCurve: The curve; images without detections count in
        ``num_images``.
    """
    if len(dets) != len(gts):
        raise ValueError(f'{len(dets)} detection lists for {len(gts)} '
                         'images.')
    scores: List[np.ndarray] = []
    tps: List[np.ndarray] = []
    num_gts = 0
    for (det_bboxes, det_scores), (gt_bboxes, gt_ignore) in zip(dets, gts):
        gt_ignore = np.asarray(gt_ignore, dtype=bool).reshape(-1)
        num_gts += int((~gt_ignore).sum())
        is_tp, is_ignored = match_image(det_bboxes, det_scores, gt_bboxes,
                                        gt_ignore, iou_thr, ignore_iod_thr)
        keep = ~is_ignored
        scores.append(np.asarray(det_scores, dtype=np.float64)[keep])
        tps.append(is_tp[keep])
    scores_all = np.concatenate(scores) if scores else np.zeros(0)
    tp_all = np.concatenate(tps) if tps else np.zeros(0, dtype=bool)
    order = np.argsort(-scores_all, kind='mergesort')
    tp_cum = np.cumsum(tp_all[order])
    fp_cum = np.cumsum(~tp_all[order])
    recall = tp_cum / max(num_gts, 1)
    precision = tp_cum / np.maximum(tp_cum + fp_cum, 1)
    return PedestrianCurve(scores_all[order], recall, precision,
                           fp_cum / max(len(gts), 1), num_gts, len(gts))


def evaluate_pedestrian(dets: Sequence[Tuple[np.ndarray, np.ndarray]],
                        gts: Sequence[Tuple[np.ndarray, np.ndarray]],
                        iou_thr: float = 0.5,
                        ignore_iod_thr: float = 0.5) -> Dict[str, float]:
    """AP, recall and log-average miss rate of one class.

    Args:
        dets, gts, iou_thr, ignore_iod_thr: See :func:`pedestrian_curve`.

    Returns:
        dict[str, float]: ``AP`` (VOC all-point), ``Recall`` (with all
        detections), ``mMR`` (log-average miss rate over FPPI 1e-2..1e0),
        all in ``[0, 1]``, plus ``num_gts`` and ``num_dets`` (kept
        detections). With no objects, AP, Recall and mMR are -1 (undefined).
    """
    curve = pedestrian_curve(dets, gts, iou_thr, ignore_iod_thr)
    if curve.num_gts == 0:
        ap = recall = mmr = -1.0
    else:
        ap = voc_all_point_ap(curve.recall, curve.precision)
        recall = float(curve.recall[-1]) if len(curve.recall) else 0.0
        mmr = log_average_miss_rate(curve.fppi, 1.0 - curve.recall)
    return dict(
        AP=ap,
        Recall=recall,
        mMR=mmr,
        num_gts=float(curve.num_gts),
        num_dets=float(len(curve.scores)))
