# Copyright (c) crossdino contributors. All rights reserved.
"""Tests for :mod:`crossdino.evaluation.functional.tiny_coco_eval`."""
import contextlib
import copy
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from crossdino.evaluation.functional import (TINY_AREA_RANGES,
                                             evaluate_tiny_coco,
                                             filter_ignored,
                                             ignored_region_coverage)

# Order of COCOeval.stats for bbox, as keys of evaluate_tiny_coco().
COCO_STAT_KEYS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l',
                  'AR@1', 'AR@10', 'AR@100', 'AR_s@100', 'AR_m@100',
                  'AR_l@100')


def make_coco(anns, num_imgs=1, num_cats=1, size=(200, 200)):
    """COCO GT from ``(image_id, category_id, [x, y, w, h])`` or full dicts.

    Images get ids ``1..num_imgs``; categories ``1..num_cats``.
    """
    annotations = []
    for i, ann in enumerate(anns, start=1):
        if not isinstance(ann, dict):
            img_id, cat_id, bbox = ann
            ann = dict(image_id=img_id, category_id=cat_id, bbox=list(bbox),
                       area=bbox[2] * bbox[3], iscrowd=0)
        annotations.append(dict(ann, id=i))
    dataset = dict(
        images=[
            dict(id=i, width=size[1], height=size[0], file_name=f'{i}.jpg')
            for i in range(1, num_imgs + 1)
        ],
        categories=[
            dict(id=c, name=f'cls{c}') for c in range(1, num_cats + 1)
        ],
        annotations=annotations)
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def ignored_region(img_id, bbox):
    """An ignored region as written by the VisDrone converter."""
    return dict(image_id=img_id, category_id=0, bbox=list(bbox),
                area=bbox[2] * bbox[3], iscrowd=1, ignore=1,
                visdrone_category=0)


def det(img_id, bbox, score, cat_id=1):
    return dict(image_id=img_id, category_id=cat_id, bbox=list(bbox),
                score=score)


def plain_cocoeval_stats(coco_gt, dets, area_rng=None):
    """Reference: pycocotools' stats with default params (maxDets 100)."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_eval = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(dets)),
                             'bbox')
        if area_rng is not None:
            coco_eval.params.areaRng = [list(area_rng)] * 4
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return coco_eval.stats


@pytest.fixture(scope='module')
def random_set():
    """Seeded crowd-free GT/detections: 6 images, 3 classes, 2-200 px."""
    rng = np.random.default_rng(2024)
    num_imgs, num_cats = 6, 3
    gts, dets = [], []
    for img_id in range(1, num_imgs + 1):
        num = rng.integers(5, 25)
        wh = np.exp(rng.uniform(np.log(2), np.log(200), (num, 2)))
        xy = rng.uniform(0, 800, (num, 2))
        cats = rng.integers(1, num_cats + 1, num)
        boxes = np.c_[xy, wh]
        gts += [(img_id, int(c), b.tolist()) for c, b in zip(cats, boxes)]
        # Jittered true positives (some missed), plus false positives.
        hit = rng.random(num) < 0.8
        jit = boxes[hit] + rng.normal(0, 0.06, (hit.sum(), 4)) * np.c_[
            boxes[hit, 2:], boxes[hit, 2:]]
        jit[:, 2:] = np.abs(jit[:, 2:]) + 0.5
        fp = np.c_[rng.uniform(0, 800, (8, 2)),
                   np.exp(rng.uniform(np.log(2), np.log(200), (8, 2)))]
        for c, b in zip(np.r_[cats[hit], rng.integers(1, num_cats + 1, 8)],
                        np.r_[jit, fp]):
            dets.append(det(img_id, b.tolist(), float(rng.random()), int(c)))
    return make_coco(gts, num_imgs, num_cats, size=(1000, 1000)), dets


def test_parity_with_pycocotools(random_set):
    coco_gt, dets = random_set
    ref = plain_cocoeval_stats(coco_gt, dets)
    res = evaluate_tiny_coco(coco_gt, dets, max_dets=(1, 10, 100))
    np.testing.assert_allclose([res[k] for k in COCO_STAT_KEYS], ref,
                               atol=1e-6)
    assert ref[0] > 0.1  # not a degenerate set
    # Each tiny range equals a plain run restricted to that range.
    for name, rng in dict(vt=(0, 64), t=(64, 256), s_aitod=(256, 1024),
                          m_aitod=(1024, 1e10)).items():
        ref = plain_cocoeval_stats(coco_gt, dets, area_rng=rng)
        assert res[f'AP_{name}'] == pytest.approx(ref[0], abs=1e-6)
        assert res[f'AR_{name}'] == pytest.approx(ref[8], abs=1e-6)


def test_keys_and_classwise(random_set):
    coco_gt, dets = random_set
    res = evaluate_tiny_coco(coco_gt, dets, classwise=True)
    assert list(res) == [
        'mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l', 'AP_vt', 'AP_t',
        'AP_s_aitod', 'AP_m_aitod', 'AR@100', 'AR@300', 'AR@1500',
        'AR_s@1500', 'AR_m@1500', 'AR_l@1500', 'AR_vt', 'AR_t', 'AR_s_aitod',
        'AR_m_aitod',
        'cls1_AP', 'cls1_AP_50', 'cls2_AP', 'cls2_AP_50', 'cls3_AP',
        'cls3_AP_50'
    ]
    for key in ('AP', 'AP_50'):
        per_class = [res[f'cls{c}_{key}'] for c in (1, 2, 3)]
        assert np.mean(per_class) == pytest.approx(res[f'm{key}'])


def test_hand_computed():
    # GT A: 6x6 (very tiny), GT B: 12x12 (tiny).
    coco_gt = make_coco([(1, 1, [10, 10, 6, 6]), (1, 1, [50, 50, 12, 12])])
    dets = [
        det(1, [100, 100, 6, 6], 0.9),  # very tiny false positive
        det(1, [10, 10, 6, 6], 0.8),  # A, IoU 1
        det(1, [52, 50, 12, 12], 0.7),  # B, IoU 10 / 14 ~ 0.71
    ]
    res = evaluate_tiny_coco(coco_gt, dets)
    # vt: FP then TP (B's match is ignored) -> interpolated precision 1/2.
    assert res['AP_vt'] == pytest.approx(0.5)
    assert res['AR_vt'] == pytest.approx(1.0)
    # t: one TP for IoU thresholds 0.50-0.70, a miss for 0.75-0.95.
    assert res['AP_t'] == pytest.approx(0.5)
    assert res['AR_t'] == pytest.approx(0.5)
    assert res['AP_s_aitod'] == res['AP_m_aitod'] == -1
    # all: (FP, TP, TP) -> 2/3 for 5 thresholds; (FP, TP, FP) -> 1/2 up to
    # recall 0.5, i.e. for 51 of 101 recall thresholds.
    expected = (2 / 3 + 0.5 * 51 / 101) / 2
    assert res['mAP'] == pytest.approx(expected)
    assert res['mAP_s'] == pytest.approx(expected)
    assert res['mAP_50'] == pytest.approx(2 / 3)
    assert res['mAP_75'] == pytest.approx(0.5 * 51 / 101)
    assert res['mAP_m'] == res['mAP_l'] == -1


def test_region_coverage_is_union_area():
    regions = np.array([[0, 0, 10, 10], [5, 0, 10, 10]], dtype=float)
    boxes = np.array([
        [2, 2, 4, 4],  # inside both regions: counted once
        [8, 0, 4, 10],  # across the seam, half in each region
        [12, 5, 6, 10],  # (15-12)*(10-5) of 60 px²
        [30, 30, 5, 5],  # outside
        [1, 1, 0, 3],  # degenerate
        [14.5, 9.5, 1, 1],  # sub-pixel corner: a quarter inside
    ])
    np.testing.assert_allclose(
        ignored_region_coverage(boxes, regions),
        [1, 1, 15 / 60, 0, 0, 0.25])
    assert ignored_region_coverage(boxes, np.zeros((0, 4))).shape == (6, )


def test_ignored_regions():
    anns = [
        (1, 1, [20, 20, 10, 10]),  # A: detected
        (1, 1, [100, 100, 10, 10]),  # B: inside region -> ignored GT
        ignored_region(1, [90, 90, 30, 30]),
        ignored_region(1, [120, 90, 30, 30]),
        ignored_region(1, [0, 150, 40, 40]),
    ]
    coco_gt = make_coco(anns)
    tp = det(1, [20, 20, 10, 10], 0.9)
    in_union = det(1, [115, 100, 10, 10], 0.95)  # 50/50 over two regions
    partly = det(1, [36, 160, 10, 10], 0.95)  # 40% inside a region

    res = evaluate_tiny_coco(coco_gt, [tp, in_union])
    # Not a false positive: AP as without it; B is not a miss.
    assert res == evaluate_tiny_coco(coco_gt, [tp])
    assert res['mAP'] == pytest.approx(1.0)
    assert res['AR@100'] == pytest.approx(1.0)
    # Without the rule: a higher-scored FP and a missed B.
    raw = evaluate_tiny_coco(coco_gt, [tp, in_union], ignore_overlap_thr=None)
    assert raw['mAP'] < 0.5 and raw['AR@100'] == pytest.approx(0.5)

    # 40% inside is kept, i.e. it is a false positive.
    res = evaluate_tiny_coco(coco_gt, [tp, partly])
    assert res['mAP'] < 0.6
    _, kept = filter_ignored(coco_gt, [tp, partly], ignore_overlap_thr=0.3)
    assert kept == [tp]

    eval_gt, kept = filter_ignored(coco_gt, [tp, in_union, partly])
    assert kept == [tp, partly]
    assert [a['iscrowd'] for a in eval_gt.dataset['annotations']] == [0, 1]
    assert len(coco_gt.dataset['annotations']) == 5  # input untouched
    assert coco_gt.anns[2]['iscrowd'] == 0


def test_max_dets_1500():
    # 150 disjoint 8x8 objects on one image, all detected exactly.
    xy = np.stack(np.meshgrid(np.arange(15), np.arange(10)), -1)
    boxes = np.c_[xy.reshape(-1, 2) * 10.0, np.full((150, 2), 8.0)]
    coco_gt = make_coco([(1, 1, b) for b in boxes.tolist()])
    dets = [det(1, b, 1 - i / 1000) for i, b in enumerate(boxes.tolist())]
    res = evaluate_tiny_coco(coco_gt, dets, max_dets=(1, 10, 100))
    assert res['AR@100'] == pytest.approx(100 / 150)
    res = evaluate_tiny_coco(coco_gt, dets)  # (100, 300, 1500)
    assert res['AR@100'] == pytest.approx(100 / 150)
    assert res['AR@1500'] == pytest.approx(1.0)
    assert res['mAP'] == pytest.approx(1.0)


def test_edge_cases():
    coco_gt = make_coco([(1, 1, [10, 10, 20, 20]), (1, 2, [50, 50, 5, 5])],
                        num_imgs=2, num_cats=2)
    # No detections at all: zeros wherever there is GT, no crash.
    res = evaluate_tiny_coco(coco_gt, [])
    for key in ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'AP_vt', 'AP_s_aitod',
                'AR@100', 'AR@1500', 'AR_vt', 'AR_s_aitod'):
        assert res[key] == 0
    # Image 2 has no GT: its detection is a plain false positive.
    dets = [det(1, [10, 10, 20, 20], 0.5), det(2, [10, 10, 20, 20], 0.9)]
    res = evaluate_tiny_coco(coco_gt, dets)
    assert res['AP_s_aitod'] == pytest.approx(0.5)
    # Unknown ids are reported.
    with pytest.raises(ValueError, match='image_id.*7'):
        evaluate_tiny_coco(coco_gt, dets + [det(7, [0, 0, 5, 5], 0.1)])
    with pytest.raises(ValueError, match='category_id.*0'):
        evaluate_tiny_coco(coco_gt, [det(1, [0, 0, 5, 5], 0.1, cat_id=0)])


def test_tiny_keys_are_not_coco_keys():
    # AI-TOD's 16-32 / > 32 px ranges must not be read as COCO's mAP_s / m.
    assert list(TINY_AREA_RANGES) == ['vt', 't', 's_aitod', 'm_aitod']
    coco_gt = make_coco([(1, 1, [10, 10, 20, 20])])
    res = evaluate_tiny_coco(coco_gt, [det(1, [10, 10, 20, 20], 0.9)])
    assert 'AP_s' not in res and 'AP_m' not in res and 'AR_s' not in res
    assert res['AP_s_aitod'] == pytest.approx(1.0)
    assert res['AR_s_aitod'] == pytest.approx(1.0)
    assert res['AP_m_aitod'] == res['AR_m_aitod'] == -1


@pytest.mark.parametrize('wh', [(1, 1), (0.5, 1.5), (1.5, 1.5)])
def test_very_tiny_starts_at_zero(wh):
    # Boxes under 2 px (area < 4) are in AP_vt, as in AI-TOD's evaluator
    # (the papers' prose says 2-8 px).
    coco_gt = make_coco([(1, 1, [10, 10, *wh])])
    found = evaluate_tiny_coco(coco_gt, [det(1, [10, 10, *wh], 0.9)])
    assert found['AP_vt'] == pytest.approx(1.0)
    assert found['AR_vt'] == pytest.approx(1.0)
    assert found['AP_t'] == found['AP_s_aitod'] == found['AP_m_aitod'] == -1
    missed = evaluate_tiny_coco(coco_gt, [det(1, [50, 50, *wh], 0.9)])
    assert missed['AP_vt'] == missed['AR_vt'] == 0.0
    # A 2-8 px range would not hold the box at all.
    two_to_eight = evaluate_tiny_coco(
        coco_gt, [det(1, [10, 10, *wh], 0.9)], area_ranges=dict(vt=(4, 64)))
    assert two_to_eight['AP_vt'] == -1


# (w, h) of one ground-truth box against the ranges that hold it. Ranges
# are closed, [lo, hi] on the area as in pycocotools, so an area exactly on
# a boundary (8², 16², 32²) counts in both neighbours.
RANGE_KEYS = ('AP_vt', 'AP_t', 'AP_s_aitod', 'AP_m_aitod', 'mAP_s', 'mAP_m')


@pytest.mark.parametrize('wh,ranges', [
    ((7.75, 8), {'AP_vt', 'mAP_s'}),  # area 62
    ((8, 8), {'AP_vt', 'AP_t', 'mAP_s'}),  # area 64
    ((8.25, 8), {'AP_t', 'mAP_s'}),  # area 66
    ((15.75, 16), {'AP_t', 'mAP_s'}),  # area 252
    ((16, 16), {'AP_t', 'AP_s_aitod', 'mAP_s'}),  # area 256
    ((16.25, 16), {'AP_s_aitod', 'mAP_s'}),  # area 260
    ((31.75, 32), {'AP_s_aitod', 'mAP_s'}),  # area 1016
    ((32, 32), {'AP_s_aitod', 'AP_m_aitod', 'mAP_s', 'mAP_m'}),  # 1024
    ((32.25, 32), {'AP_m_aitod', 'mAP_m'}),  # area 1032
])
def test_range_boundaries(wh, ranges):
    coco_gt = make_coco([(1, 1, [10, 10, *wh])])
    # Detected exactly: AP 1 in every range that holds the box, -1 (no
    # ground truth) in the others.
    res = evaluate_tiny_coco(coco_gt, [det(1, [10, 10, *wh], 0.9)])
    assert {k: res[k] for k in RANGE_KEYS} == pytest.approx(
        {k: 1.0 if k in ranges else -1.0 for k in RANGE_KEYS})
    # Missed (the detection is elsewhere, of the same size): 0 where the
    # box counts, still -1 elsewhere.
    res = evaluate_tiny_coco(coco_gt, [det(1, [100, 100, *wh], 0.9)])
    assert {k: res[k] for k in RANGE_KEYS} == pytest.approx(
        {k: 0.0 if k in ranges else -1.0 for k in RANGE_KEYS})


@pytest.mark.parametrize('x,covered,ignored', [
    (15.25, 0.475, False),
    (15.0, 0.5, False),  # exactly the threshold: not ignored (> 0.5 is)
    (14.75, 0.525, True),
])
def test_ignore_threshold_boundary(x, covered, ignored):
    # Ignored region [0, 20] x [0, 20]; a 10x10 box at (x, 0) has
    # (20 - x) * 10 of its 100 px² inside.
    region = ignored_region(1, [0, 0, 20, 20])
    box = [x, 0, 10, 10]
    assert ignored_region_coverage(np.array([box]),
                                   np.array([region['bbox']])) == covered

    # A detection there, ranked above the true positive of object A.
    coco_gt = make_coco([(1, 1, [100, 100, 10, 10]), region])
    tp, fp = det(1, [100, 100, 10, 10], 0.5), det(1, box, 0.9)
    _, kept = filter_ignored(coco_gt, [tp, fp])
    assert kept == ([tp] if ignored else [tp, fp])
    res = evaluate_tiny_coco(coco_gt, [tp, fp])
    # Dropped: AP 1. Kept: a false positive first, precision 1/2 at recall 1.
    assert res['mAP'] == pytest.approx(1.0 if ignored else 0.5)

    # A ground-truth box B there, not detected; A is.
    coco_gt = make_coco([(1, 1, [100, 100, 10, 10]), (1, 1, box), region])
    eval_gt, _ = filter_ignored(coco_gt, [tp])
    assert [a['iscrowd'] for a in eval_gt.dataset['annotations']] == [
        0, int(ignored)]
    res = evaluate_tiny_coco(coco_gt, [tp])
    # Ignored: not a miss. Otherwise a miss: precision 1 up to recall 0.5,
    # i.e. on 51 of the 101 recall thresholds.
    assert res['AR@100'] == pytest.approx(1.0 if ignored else 0.5)
    assert res['mAP'] == pytest.approx(1.0 if ignored else 51 / 101)


def test_backends_agree_with_ignored_regions_in_every_range():
    """faster-coco-eval (default) and pycocotools give the same numbers, to
    1e-6, for every key: boxes of 2-200 px (every range), several classes,
    ignored regions, crowd boxes, 1500 detections per image."""
    rng = np.random.default_rng(7)
    anns, dets = [], []
    for img in range(1, 5):
        wh = np.exp(rng.uniform(np.log(2), np.log(200), (60, 2)))
        xy = rng.uniform(0, 700, (60, 2))
        cats = rng.integers(1, 4, 60)
        for c, b in zip(cats, np.c_[xy, wh]):
            anns.append((img, int(c), b.tolist()))
        anns.append(ignored_region(img, [0, 0, 150, 150]))
        anns.append(dict(image_id=img, category_id=2, bbox=[400, 400, 40, 40],
                         area=1600, iscrowd=1))
        for _ in range(1500):
            j = rng.integers(60)
            b = np.r_[xy[j], wh[j]] + rng.normal(0, 0.1, 4) * np.r_[wh[j],
                                                                  wh[j]]
            b[2:] = np.abs(b[2:]) + 0.5
            c = cats[j] if rng.random() < 0.8 else rng.integers(1, 4)
            dets.append(det(img, b.tolist(), float(rng.random()), int(c)))
    coco_gt = make_coco(anns, 4, 3, size=(1000, 1000))
    ref = evaluate_tiny_coco(coco_gt, dets, classwise=True,
                             range_iou_aps=True, backend='pycocotools')
    got = evaluate_tiny_coco(coco_gt, dets, classwise=True,
                             range_iou_aps=True, backend='faster')
    assert got.keys() == ref.keys()
    for k in ref:
        assert got[k] == pytest.approx(ref[k], abs=1e-6), k
    assert ref['AP_vt'] > 0 and ref['mAP_l'] > 0  # every range populated
    with pytest.raises(ValueError, match='backend'):
        evaluate_tiny_coco(coco_gt, dets, backend='fast')
