# Copyright (c) crossdino contributors. All rights reserved.
"""Tests for the ``TinyObjectCocoMetric`` registered in mmdet's METRICS."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.registry import METRICS
from pycocotools.coco import COCO

# Importing crossdino.evaluation also registers TinyObjectCocoMetric.
from crossdino.evaluation import evaluate_tiny_coco

CLASSES = ('pedestrian', 'car')


@pytest.fixture(scope='module')
def ann_file(tmp_path_factory):
    """3 images, 2 classes, one VisDrone ignored region on image 1."""
    rng = np.random.default_rng(7)
    anns = []
    for img_id in (1, 2, 3):
        wh = rng.uniform(3, 60, (6, 2)).round(1)
        xy = rng.uniform(0, 300, (6, 2)).round(1)
        for (x, y), (w, h) in zip(xy, wh):
            anns.append(
                dict(image_id=img_id, category_id=int(rng.integers(1, 3)),
                     bbox=[x, y, w, h], area=w * h, iscrowd=0))
    anns.append(
        dict(image_id=1, category_id=0, bbox=[300, 300, 60, 60], area=3600,
             iscrowd=1, ignore=1, visdrone_category=0))
    dataset = dict(
        images=[
            dict(id=i, file_name=f'{i}.jpg', width=400, height=400)
            for i in (1, 2, 3)
        ],
        categories=[
            dict(id=i, name=name) for i, name in enumerate(CLASSES, start=1)
        ],
        annotations=[dict(ann, id=i) for i, ann in enumerate(anns, start=1)])
    path = osp.join(tmp_path_factory.mktemp('visdrone'), 'val.json')
    with open(path, 'w') as f:
        json.dump(dataset, f)
    return path


@pytest.fixture(scope='module')
def data_samples(ann_file):
    """Jittered GT as predictions plus a detection in the ignored region."""
    with open(ann_file) as f:
        anns = json.load(f)['annotations']
    rng = np.random.default_rng(8)
    samples = []
    for img_id in (1, 2, 3):
        objs = [
            a for a in anns if a['image_id'] == img_id and a['iscrowd'] == 0
        ]
        xywh = np.array([a['bbox'] for a in objs])
        xywh[:, :2] += rng.integers(-2, 3, (len(objs), 2))
        bboxes = np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]]
        labels = np.array([a['category_id'] - 1 for a in objs])
        if img_id == 1:
            bboxes = np.r_[bboxes, [[310, 310, 330, 330]]]
            labels = np.r_[labels, 1]
        scores = rng.random(len(bboxes))
        samples.append(
            dict(
                img_id=img_id,
                ori_shape=(400, 400),
                pred_instances=dict(
                    bboxes=torch.tensor(bboxes, dtype=torch.float32),
                    scores=torch.tensor(scores, dtype=torch.float32),
                    labels=torch.tensor(labels, dtype=torch.int64))))
    return samples


def to_coco_results(samples):
    """Functional-form input from the same (float32) predictions."""
    dets = []
    for sample in samples:
        pred = sample['pred_instances']
        for box, score, label in zip(pred['bboxes'].numpy(),
                                     pred['scores'].numpy(),
                                     pred['labels'].numpy()):
            x0, y0, x1, y1 = box.tolist()
            dets.append(
                dict(image_id=sample['img_id'], category_id=int(label) + 1,
                     bbox=[x0, y0, x1 - x0, y1 - y0], score=float(score)))
    return dets


def build_metric(ann_file, **kwargs):
    metric = METRICS.build(
        dict(type='TinyObjectCocoMetric', ann_file=ann_file, **kwargs))
    metric.dataset_meta = dict(classes=CLASSES)
    return metric


def test_metric_matches_functional(ann_file, data_samples):
    metric = build_metric(ann_file, classwise=True)
    metric.process({}, data_samples[:2])
    metric.process({}, data_samples[2:])
    results = metric.evaluate(size=len(data_samples))

    expected = evaluate_tiny_coco(
        COCO(ann_file), to_coco_results(data_samples), classwise=True)
    assert results == pytest.approx(
        {f'coco/bbox_{k}': v for k, v in expected.items()}, abs=1e-12)
    assert list(results)[:10] == [
        'coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75',
        'coco/bbox_mAP_s', 'coco/bbox_mAP_m', 'coco/bbox_mAP_l',
        'coco/bbox_AP_vt', 'coco/bbox_AP_t', 'coco/bbox_AP_s_aitod',
        'coco/bbox_AP_m_aitod'
    ]
    # COCO's small is bbox_mAP_s; no key differs from it by one letter.
    assert 'coco/bbox_AP_s' not in results
    assert 'coco/bbox_AR_s_aitod' in results
    assert 'coco/bbox_AR@1500' in results and 'coco/bbox_car_AP' in results
    assert 0 < results['coco/bbox_mAP'] < 1
    # The detection inside the ignored region was dropped.
    raw = evaluate_tiny_coco(
        COCO(ann_file), to_coco_results(data_samples),
        ignore_overlap_thr=None)
    assert raw['mAP'] != pytest.approx(expected['mAP'])


def test_metric_options(ann_file, data_samples, tmp_path):
    metric = build_metric(
        ann_file, metric_items=['mAP', 'AP_vt', 'AR@100'], max_dets=(100, ),
        area_ranges=dict(vt=[4, 64], rest=[64, 1e10]))
    metric.process({}, data_samples)
    assert list(metric.compute_metrics(metric.results)) == [
        'bbox_mAP', 'bbox_AP_vt', 'bbox_AR@100'
    ]

    # No predictions at all.
    empty = [
        dict(s, pred_instances=dict(
            bboxes=torch.zeros((0, 4)), scores=torch.zeros(0),
            labels=torch.zeros(0, dtype=torch.int64)))
        for s in data_samples
    ]
    metric = build_metric(ann_file)
    metric.process({}, empty)
    assert metric.evaluate(size=3)['coco/bbox_mAP'] == 0

    prefix = str(tmp_path / 'submit')
    metric = build_metric(ann_file, format_only=True, outfile_prefix=prefix)
    metric.process({}, data_samples)
    assert metric.compute_metrics(metric.results) == {}
    with open(prefix + '.bbox.json') as f:
        assert len(json.load(f)) == 19  # 18 objects + 1 in ignored region


def test_metric_errors(ann_file):
    with pytest.raises(ValueError, match='ann_file'):
        METRICS.build(dict(type='TinyObjectCocoMetric'))
    with pytest.raises(ValueError, match='bbox'):
        build_metric(ann_file, metric='segm')
    with pytest.raises(ValueError, match='bbox'):
        build_metric(ann_file, metric=['bbox', 'segm'])


@pytest.mark.parametrize('x,kept', [(15.25, True), (15.0, True),
                                    (14.75, False)])
def test_ignore_threshold_boundary_through_metric(tmp_path, x, kept):
    """A detection covered 47.5 %, exactly 50 % or 52.5 % by an ignored
    region: only more than ``ignore_overlap_thr`` (0.5) drops it, also
    after the metric's float32 xyxy -> xywh conversion."""
    path = tmp_path / 'gt.json'
    path.write_text(json.dumps(dict(
        images=[dict(id=1, file_name='1.jpg', width=200, height=200)],
        categories=[dict(id=1, name='pedestrian'), dict(id=2, name='car')],
        annotations=[
            dict(id=1, image_id=1, category_id=1, bbox=[100, 100, 10, 10],
                 area=100, iscrowd=0),
            dict(id=2, image_id=1, category_id=0, bbox=[0, 0, 20, 20],
                 area=400, iscrowd=1, ignore=1)])))
    metric = build_metric(str(path), metric_items=['mAP'])
    metric.process({}, [dict(
        img_id=1, ori_shape=(200, 200),
        pred_instances=dict(
            bboxes=torch.tensor([[100, 100, 110, 110], [x, 0, x + 10, 10]]),
            scores=torch.tensor([0.5, 0.9]),
            labels=torch.tensor([0, 0])))])
    # Kept: a false positive above the true positive, AP 1/2.
    assert metric.evaluate(size=1)['coco/bbox_mAP'] == pytest.approx(
        0.5 if kept else 1.0)
