# Copyright (c) crossdino contributors. All rights reserved.
"""Tests for ``VOCAPMetric`` (HMPE's mAP@0.5 and mAP@0.5:0.95)."""
import contextlib
import io
import json

import numpy as np
import pytest
import torch
from mmdet.registry import METRICS
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import crossdino.evaluation  # noqa: F401  (registers VOCAPMetric)

CLASSES = ('airplane', 'ship')


def write_ann(path, anns, num_images=1):
    dataset = dict(
        images=[dict(id=i, file_name=f'{i}.jpg', width=300, height=300)
                for i in range(1, num_images + 1)],
        categories=[dict(id=i + 1, name=n) for i, n in enumerate(CLASSES)],
        annotations=[dict(a, id=k + 1) for k, a in enumerate(anns)])
    path.write_text(json.dumps(dataset))
    return str(path)


def obj(img_id, cat_id, xywh, iscrowd=0):
    return dict(image_id=img_id, category_id=cat_id, bbox=list(xywh),
                area=xywh[2] * xywh[3], iscrowd=iscrowd)


def sample(img_id, boxes, scores, labels):
    return dict(
        img_id=img_id,
        ori_shape=(300, 300),
        pred_instances=dict(
            bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            scores=torch.tensor(scores, dtype=torch.float32),
            labels=torch.tensor(labels, dtype=torch.int64)))


def run(ann_file, samples, **kwargs):
    metric = METRICS.build(dict(type='VOCAPMetric', ann_file=ann_file,
                                **kwargs))
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, samples)
    return metric.evaluate(size=len(samples))


def test_hand_case(tmp_path):
    # One image, class 'airplane': objects P [0,0,10,10] and Q
    # [50,0,60,10], a 'difficult' (iscrowd) object at [100,0,110,10].
    ann = write_ann(tmp_path / 'a.json', [
        obj(1, 1, (0, 0, 10, 10)),
        obj(1, 1, (50, 0, 10, 10)),
        obj(1, 1, (100, 0, 10, 10), iscrowd=1),
    ])
    # .9 exact on P (IoU 1); .8 on Q with height 7.8 (IoU .78); .95 on the
    # difficult object (matched to it: ignored, not a FP).
    # IoU .50 ... .75 (6 thresholds): 2 TP, precision 1 up to recall 1:
    # AP 1. IoU .80 ... .95 (4): .9 TP, .8 FP -> recall 1/2 at precision
    # 1: 51 of 101 recall thresholds, AP 51/101.
    samples = [
        sample(1, [[0, 0, 10, 10], [50, 0, 60, 7.8], [100, 0, 110, 10]],
               [0.9, 0.8, 0.95], [0, 0, 0])
    ]
    res = run(ann, samples, classwise=True)
    expected_50_95 = (6 * 1.0 + 4 * 51 / 101) / 10
    assert res['pascal_voc/mAP50'] == pytest.approx(1.0)
    assert res['pascal_voc/mAP50_95'] == pytest.approx(expected_50_95)
    # 'ship' has no ground truth: -1 (COCO convention), not averaged in.
    assert res['pascal_voc/airplane_AP50_95'] == pytest.approx(
        expected_50_95)
    assert res['pascal_voc/ship_AP50'] == -1
    assert set(res) == {
        'pascal_voc/mAP50', 'pascal_voc/mAP50_95', 'pascal_voc/airplane_AP50',
        'pascal_voc/airplane_AP50_95', 'pascal_voc/ship_AP50',
        'pascal_voc/ship_AP50_95'
    }


def test_matches_pycocotools(tmp_path):
    rng = np.random.default_rng(5)
    anns, samples, dts = [], [], []
    for img_id in (1, 2, 3, 4):
        n = 6
        xy = rng.uniform(0, 250, (n, 2))
        wh = rng.uniform(5, 50, (n, 2))
        cats = rng.integers(1, 3, n)
        for b, c in zip(np.c_[xy, wh], cats):
            anns.append(obj(img_id, int(c), [float(v) for v in b]))
        boxes = np.c_[xy, xy + wh] + rng.normal(0, 2, (n, 4))
        boxes = np.r_[boxes, rng.uniform(0, 250, (2, 4)).cumsum(1)[:, :4]]
        labels = np.r_[cats - 1, rng.integers(0, 2, 2)]
        scores = rng.random(len(boxes))
        samples.append(sample(img_id, boxes, scores, labels))
        f32 = torch.tensor(boxes, dtype=torch.float32).numpy()
        s32 = torch.tensor(scores, dtype=torch.float32).numpy()
        for b, s, lab in zip(f32, s32, labels):
            x0, y0, x1, y1 = (float(v) for v in b)
            dts.append(dict(image_id=img_id, category_id=int(lab) + 1,
                            bbox=[x0, y0, x1 - x0, y1 - y0], score=float(s)))
    ann = write_ann(tmp_path / 'b.json', anns, num_images=4)
    res = run(ann, samples)

    coco = COCO(ann)
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco, coco.loadRes(dts), 'bbox')
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # stats[0]: AP@[.5:.95] (maxDets 100), stats[1]: AP@.5.
    assert 0.2 < res['pascal_voc/mAP50'] < 1
    assert res['pascal_voc/mAP50'] == pytest.approx(ev.stats[1], abs=1e-12)
    assert res['pascal_voc/mAP50_95'] == pytest.approx(ev.stats[0],
                                                       abs=1e-12)


def test_options(tmp_path):
    ann = write_ann(tmp_path / 'c.json', [obj(1, 1, (0, 0, 10, 10))])
    with pytest.raises(TypeError, match='`iou_thrs`'):
        METRICS.build(dict(type='VOCAPMetric', ann_file=ann, iou_thrs=0.5))
    prefix = str(tmp_path / 'submit')
    metric = METRICS.build(
        dict(type='VOCAPMetric', ann_file=ann, format_only=True,
             outfile_prefix=prefix))
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, [sample(1, [[0, 0, 10, 10]], [0.5], [0])])
    assert metric.compute_metrics(metric.results) == {}
    with open(prefix + '.bbox.json') as f:
        assert len(json.load(f)) == 1
