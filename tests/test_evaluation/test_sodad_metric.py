# Copyright (c) crossdino contributors. All rights reserved.
"""Tests for ``SODADMetric`` (SODA-D area ranges, CFINet protocol)."""
import contextlib
import io
import json

import numpy as np
import pytest
import torch
from mmdet.registry import METRICS
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from crossdino.evaluation.metrics import SODAD_AREA_RANGES

# (w, h) of the 9 objects: areas 100, 144 (= 12²), 300, 400 (= 20²), 600,
# 1024 (= 32²), 1500, 2000 (= 40 * 50), 3000; the boundary areas belong to
# both neighbouring ranges (pycocotools: outside iff area < lo or > hi).
SIZES = [(10, 10), (12, 12), (15, 20), (20, 20), (20, 30), (32, 32),
         (30, 50), (40, 50), (50, 60)]
REGION = [400, 400, 100, 100]  # ignored region (category 0)


@pytest.fixture(scope='module')
def ann_file(tmp_path_factory):
    anns = []
    for i, (w, h) in enumerate(SIZES):
        anns.append(
            dict(id=i + 1, image_id=1, category_id=1,
                 bbox=[i * 70.0, 0.0, w, h], area=float(w * h), iscrowd=0))
    anns.append(
        dict(id=100, image_id=1, category_id=0, bbox=REGION, area=1e4,
             iscrowd=1, ignore=1))
    dataset = dict(
        images=[dict(id=1, file_name='1.jpg', width=700, height=600)],
        categories=[dict(id=1, name='people')],
        annotations=anns)
    path = tmp_path_factory.mktemp('sodad') / 'test.json'
    path.write_text(json.dumps(dataset))
    return str(path)


def sample(boxes, scores):
    return dict(
        img_id=1,
        ori_shape=(600, 700),
        pred_instances=dict(
            bboxes=torch.tensor(boxes, dtype=torch.float32),
            scores=torch.tensor(scores, dtype=torch.float32),
            labels=torch.zeros(len(boxes), dtype=torch.int64)))


def gt_xyxy(i):
    w, h = SIZES[i]
    return [i * 70.0, 0.0, i * 70.0 + w, h]


def run(ann_file, samples, **kwargs):
    metric = METRICS.build(dict(type='SODADMetric', ann_file=ann_file,
                                **kwargs))
    metric.dataset_meta = dict(classes=('people', ))
    metric.process({}, samples)
    return metric.evaluate(size=len(samples))


def test_ranges_are_cfinet():
    assert SODAD_AREA_RANGES == {
        'eS': (0, 144), 'rS': (144, 400), 'gS': (400, 1024),
        'N': (1024, 2000), 'Small': (0, 1024)
    }


def test_boundary_assignment(ann_file):
    # Exact detections of the 144 px² and the 2000 px² objects (IoU 1 at
    # every threshold). 101-point AP with one TP at precision 1 reaching
    # recall r: (number of recall thresholds <= r) / 101.
    #   eS    [0, 144]:     100, 144          -> r 1/2: 51/101
    #   rS    [144, 400]:   144, 300, 400     -> r 1/3: 34/101
    #   gS    [400, 1024]:  400, 600, 1024    -> no TP (both detections
    #         match objects outside gS, so they are ignored): 0
    #   N     [1024, 2000]: 1024, 1500, 2000  -> r 1/3: 34/101
    #   Small [0, 1024]:    6 objects         -> r 1/6: 17/101
    #   all:                9 objects, 2 TP   -> r 2/9: 23/101
    # SODA-D's AP_50/AP_75 are on 'Small' (17/101), COCO's on all (23/101).
    res = run(ann_file, [sample([gt_xyxy(1), gt_xyxy(7)], [0.9, 0.8])])
    expected = {
        'coco/bbox_AP_eS': 51 / 101, 'coco/bbox_AP_rS': 34 / 101,
        'coco/bbox_AP_gS': 0.0, 'coco/bbox_AP_N': 34 / 101,
        'coco/bbox_AP_Small': 17 / 101, 'coco/bbox_AP_Small_50': 17 / 101,
        'coco/bbox_AP_Small_75': 17 / 101, 'coco/bbox_mAP': 23 / 101,
        'coco/bbox_mAP_50': 23 / 101, 'coco/bbox_mAP_75': 23 / 101
    }
    assert {k: res[k] for k in expected} == pytest.approx(expected)
    assert res['coco/bbox_AR@100'] == pytest.approx(2 / 9)


def test_ignored_regions_dropped_by_default(ann_file):
    # A 10x10 (eS-sized) detection inside the ignored region with the top
    # score. CFINet drops ignored regions, so it is a FP ranked first: eS
    # precision at the TP is 1/2 -> AP_eS = 1/2 * 51/101. With the VisDrone
    # rule (ignore_overlap_thr=0.5) it is removed -> 51/101 again.
    boxes = [[410, 410, 420, 420], gt_xyxy(1), gt_xyxy(7)]
    scores = [0.99, 0.9, 0.8]
    res = run(ann_file, [sample(boxes, scores)])
    assert res['coco/bbox_AP_eS'] == pytest.approx(0.5 * 51 / 101)
    res = run(ann_file, [sample(boxes, scores)], ignore_overlap_thr=0.5)
    assert res['coco/bbox_AP_eS'] == pytest.approx(51 / 101)


def test_matches_pycocotools(ann_file):
    """Same numbers as a raw COCOeval with CFINet's SODADParams ranges."""
    rng = np.random.default_rng(3)
    boxes = np.array([gt_xyxy(i) for i in range(9)])
    boxes = boxes + rng.normal(0, 1.5, boxes.shape)
    boxes = np.r_[boxes, [[300, 300, 320, 330], [5, 200, 15, 212]]]
    scores = rng.random(len(boxes))
    res = run(ann_file, [sample(boxes, scores)])

    coco = COCO(ann_file)
    dts = [
        dict(image_id=1, category_id=1, score=float(s),
             bbox=[float(b[0]), float(b[1]),
                   float(b[2] - b[0]), float(b[3] - b[1])])
        for b, s in zip(torch.tensor(boxes, dtype=torch.float32).numpy(),
                        torch.tensor(scores, dtype=torch.float32).numpy())
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco, coco.loadRes(dts), 'bbox')
        ev.params.catIds = [1]
        ev.params.maxDets = [100]
        ev.params.areaRng = [[0, 1024], [0, 144], [144, 400], [400, 1024],
                             [1024, 2000]]
        ev.params.areaRngLbl = ['Small', 'eS', 'rS', 'gS', 'Normal']
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval['precision']  # (T, R, K, A, M)

    def ap(a):
        p = prec[:, :, :, a, 0]
        return p[p > -1].mean()

    for a, key in enumerate(['Small', 'eS', 'rS', 'gS', 'N']):
        assert res[f'coco/bbox_AP_{key}'] == pytest.approx(ap(a), abs=1e-12)
    # CFINet's stats[1], stats[2]: AP_50 and AP_75 on 'Small'.
    for t, key in ((0, 'Small_50'), (5, 'Small_75')):
        p = prec[t, :, :, 0, 0]
        assert res[f'coco/bbox_AP_{key}'] == pytest.approx(
            p[p > -1].mean(), abs=1e-12)
    assert res['coco/bbox_AP_Small_50'] != pytest.approx(
        res['coco/bbox_AP_Small_75'])
    assert 0 < res['coco/bbox_AP_eS'] < 1


def test_range_iou_aps_option(ann_file):
    res = run(ann_file, [sample([gt_xyxy(1)], [0.9])], range_iou_aps=False)
    assert 'coco/bbox_AP_Small_50' not in res
    assert res['coco/bbox_AP_Small'] == pytest.approx(17 / 101)


def test_copypaste_line_follows_table_v(ann_file):
    metric = METRICS.build(dict(type='SODADMetric', ann_file=ann_file))
    assert metric.copypaste_keys() == [
        'AP_Small', 'AP_Small_50', 'AP_Small_75', 'AP_eS', 'AP_rS', 'AP_gS',
        'AP_N'
    ]
