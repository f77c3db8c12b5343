# Copyright (c) crossdino contributors. All rights reserved.
"""Tests for the pedestrian matching / AP / log-average miss rate."""
import numpy as np
import pytest
from mmdet.evaluation.functional import eval_map
from mmdet.evaluation.functional.mean_ap import average_precision

from crossdino.evaluation.functional import (FPPI_REFERENCE_POINTS,
                                             evaluate_pedestrian,
                                             log_average_miss_rate,
                                             match_image, pedestrian_curve,
                                             voc_all_point_ap)


def test_reference_points():
    # 10^-2, 10^-1.75, ..., 10^0.
    assert FPPI_REFERENCE_POINTS == pytest.approx(
        [10**(-2 + 0.25 * i) for i in range(9)])


def test_lamr_hand_curve():
    fppi = np.array([0.005, 0.02, 0.05, 0.2, 0.5])
    mr = np.array([0.9, 0.8, 0.6, 0.5, 0.4])
    # Last curve point with FPPI <= ref, for the 9 refs
    # .01 .0178 .0316 .0562 .1 .178 .316 .562 1:
    #  .005 .005 .02 .05 .05 .05 .2 .5 .5 (1 is past the end: last point)
    sampled = [0.9, 0.9, 0.8, 0.6, 0.6, 0.6, 0.5, 0.4, 0.4]
    # Product .9^2 * .8 * .6^3 * .5 * .4^2 = .01119744; its 9th root:
    expected = 0.01119744**(1 / 9)
    assert expected == pytest.approx(0.607065, abs=1e-6)
    assert np.prod(sampled) == pytest.approx(0.01119744)
    assert log_average_miss_rate(fppi, mr) == pytest.approx(expected)


def test_lamr_curve_not_reaching_points():
    # Curve starts at FPPI 0.5: the 7 refs below 0.5 see miss rate 1
    # (nothing detected yet), .562 and 1 see 0.2.
    assert log_average_miss_rate([0.5], [0.2]) == pytest.approx(
        0.2**(2 / 9))
    # A point exactly on a reference counts (FPPI <= ref).
    assert log_average_miss_rate([0.01], [0.5]) == pytest.approx(0.5)
    # Empty curve: miss rate 1 everywhere; perfect curve: clamped to eps.
    assert log_average_miss_rate([], []) == 1.0
    assert log_average_miss_rate([0.0], [0.0]) == pytest.approx(1e-10)
    with pytest.raises(ValueError, match='non-decreasing'):
        log_average_miss_rate([0.5, 0.1], [0.2, 0.1])
    with pytest.raises(ValueError, match='differ in length'):
        log_average_miss_rate([0.5], [0.2, 0.1])


def test_match_image_ignore_rules():
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [50, 0, 100, 50]])
    ignore = np.array([False, False, True])  # third box: ignored region
    dets = np.array([
        [0, 0, 10, 10],  # .9  TP (first object)
        [1, 0, 11, 10],  # .8  IoU .82 with a taken object: FP
        [20, 0, 30, 10],  # .7  TP (second object)
        [60, 10, 70, 20],  # .95 inside the region (IoD 1): removed
        [45, 0, 55, 10],  # .6  IoD exactly .5 (Dollar: oa >= .5): removed
        [44, 0, 54, 10],  # .5  IoD .4: FP
    ])
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.6, 0.5])
    is_tp, is_ign = match_image(dets, scores, gt, ignore)
    assert is_tp.tolist() == [True, False, True, False, False, False]
    assert is_ign.tolist() == [False, False, False, True, True, False]

    # Input order does not matter.
    perm = np.array([3, 5, 0, 4, 2, 1])
    tp_p, ign_p = match_image(dets[perm], scores[perm], gt, ignore)
    assert tp_p.tolist() == is_tp[perm].tolist()
    assert ign_p.tolist() == is_ign[perm].tolist()


def test_match_image_prefers_objects_and_rematches():
    # An object inside an ignored region: the detection is a TP.
    gt = np.array([[60, 10, 70, 20], [50, 0, 100, 50]])
    is_tp, is_ign = match_image([[60, 10, 70, 20]], [0.9], gt, [False, True])
    assert is_tp.tolist() == [True] and is_ign.tolist() == [False]
    # Greedy: the 2nd detection's best object is taken, it takes the other
    # one (IoU 80/120 = .67 >= .5); mmdet's eval_map would count a FP.
    gt = np.array([[0, 0, 10, 10], [2, 0, 12, 10]])
    dets = np.array([[1, 0, 11, 10], [1, 0, 11, 10]])
    is_tp, _ = match_image(dets, [0.9, 0.8], gt)
    assert is_tp.tolist() == [True, True]
    # No ground truth / no detections.
    assert match_image(dets, [0.9, 0.8], np.zeros((0, 4)))[0].tolist() == [
        False, False
    ]
    assert len(match_image(np.zeros((0, 4)), [], gt)[0]) == 0


def hand_case():
    """Two images; the expected curve is worked out in test_hand_case."""
    gts = [
        # Image 1: objects A, B and an ignored region R.
        (np.array([[0, 0, 10, 10], [20, 0, 30, 10], [50, 0, 100, 50]]),
         np.array([False, False, True])),
        # Image 2: object C and a person D of height 15 outside 'Hard'.
        (np.array([[0, 0, 10, 30], [20, 0, 25, 15]]), np.array([False,
                                                                 True])),
    ]
    dets = [
        (np.array([[0, 0, 10, 10], [60, 10, 70, 20], [1, 0, 11, 10],
                   [20, 0, 30, 10]]), np.array([0.9, 0.95, 0.8, 0.7])),
        (np.array([[20, 0, 25, 15], [100, 100, 110, 110]]),
         np.array([0.85, 0.75])),
    ]
    return dets, gts


def test_hand_case():
    dets, gts = hand_case()
    # Kept detections by score: .9 TP(A), .8 FP, .75 FP, .7 TP(B); .95 (in
    # R) and .85 (on ignored D) are removed. 3 objects, 2 images.
    # recall 1/3 1/3 1/3 2/3, precision 1 1/2 1/3 1/2, FPPI 0 .5 1 1.
    curve = pedestrian_curve(dets, gts)
    assert curve.num_gts == 3 and curve.num_images == 2
    assert curve.scores.tolist() == [0.9, 0.8, 0.75, 0.7]
    assert curve.recall == pytest.approx([1 / 3, 1 / 3, 1 / 3, 2 / 3])
    assert curve.precision == pytest.approx([1, 1 / 2, 1 / 3, 1 / 2])
    assert curve.fppi == pytest.approx([0, 0.5, 1, 1])

    stats = evaluate_pedestrian(dets, gts)
    # AP (all-point): monotone precision 1, .5, .5, .5; recall steps
    # 0->1/3 at precision 1 and 1/3->2/3 at .5: 1/3 + 1/6 = 1/2.
    assert stats['AP'] == pytest.approx(0.5)
    assert stats['Recall'] == pytest.approx(2 / 3)
    # Miss rate 2/3 2/3 2/3 1/3: refs .01 ... .562 sample FPPI 0 or .5
    # (MR 2/3), ref 1 samples the last point (MR 1/3).
    assert stats['mMR'] == pytest.approx((2 / 3)**(8 / 9) * (1 / 3)**(1 / 9))
    assert stats['num_gts'] == 3 and stats['num_dets'] == 4
    # Reference: mmdet's all-point AP on the same curve.
    ref = average_precision(curve.recall, curve.precision, mode='area')
    assert voc_all_point_ap(curve.recall, curve.precision) == pytest.approx(
        float(ref))


def test_no_objects_and_no_detections():
    gts = [(np.zeros((0, 4)), np.zeros(0, dtype=bool))]
    stats = evaluate_pedestrian([(np.zeros((0, 4)), np.zeros(0))], gts)
    assert stats['AP'] == stats['Recall'] == stats['mMR'] == -1
    gts = [(np.array([[0, 0, 10, 30]]), np.array([False]))]
    stats = evaluate_pedestrian([(np.zeros((0, 4)), np.zeros(0))], gts)
    assert stats['AP'] == 0 and stats['Recall'] == 0 and stats['mMR'] == 1
    with pytest.raises(ValueError, match='1 detection lists for 2 images'):
        evaluate_pedestrian([(np.zeros((0, 4)), np.zeros(0))], gts * 2)


def test_ap_matches_mmdet_eval_map():
    """Same AP as mmdet's eval_map (area mode) where the two agree.

    Objects lie on a 60 px grid, so no detection reaches IoU .5 with two
    objects and greedy re-matching never differs from eval_map's rule.
    """
    rng = np.random.default_rng(0)
    dets, gts, mmdet_dets, mmdet_anns = [], [], [], []
    for _ in range(4):
        n = int(rng.integers(3, 8))
        cells = rng.choice(25, n, replace=False)
        xy = np.c_[cells % 5, cells // 5] * 60.0
        wh = rng.uniform(10, 40, (n, 2))
        gt = np.c_[xy, xy + wh]
        keep = rng.random(n) < 0.8
        jit = gt[keep] + rng.normal(0, 2, (keep.sum(), 4))
        dup = gt[:2] + rng.normal(0, 4, (2, 4))
        fps = rng.uniform(0, 250, (3, 2))
        fps = np.c_[fps, fps + 15]
        boxes = np.r_[jit, dup, fps]
        scores = rng.random(len(boxes))
        dets.append((boxes, scores))
        gts.append((gt, np.zeros(n, dtype=bool)))
        mmdet_dets.append([np.c_[boxes, scores].astype(np.float32)])
        mmdet_anns.append(
            dict(bboxes=gt.astype(np.float32), labels=np.zeros(n, int)))
    ours = evaluate_pedestrian(dets, gts)
    ref, per_class = eval_map(
        mmdet_dets, mmdet_anns, iou_thr=0.5, eval_mode='area', nproc=1,
        logger='silent')
    assert 0.3 < ours['AP'] < 0.95
    assert ours['AP'] == pytest.approx(ref, abs=1e-6)
    assert ours['Recall'] == pytest.approx(per_class[0]['recall'][-1])
