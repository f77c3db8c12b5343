# Copyright (c) crossdino contributors. All rights reserved.
"""Tests for ``WiderPersonMetric`` (AP / Recall / mMR on 'Hard')."""
import json

import numpy as np
import pytest
import torch
from mmdet.registry import METRICS

from crossdino.evaluation.functional import evaluate_pedestrian


def xywh(box):
    return [box[0], box[1], box[2] - box[0], box[3] - box[1]]


def write_ann(path, objects, regions, categories):
    """objects: (image_id, category_id, xyxy); regions: (image_id, xyxy)."""
    anns = [
        dict(image_id=i, category_id=c, bbox=xywh(b), iscrowd=0,
             area=(b[2] - b[0]) * (b[3] - b[1])) for i, c, b in objects
    ] + [
        dict(image_id=i, category_id=0, bbox=xywh(b), iscrowd=1, ignore=1,
             area=(b[2] - b[0]) * (b[3] - b[1])) for i, b in regions
    ]
    dataset = dict(
        images=[dict(id=i, file_name=f'{i}.jpg', width=200, height=200)
                for i in (1, 2)],
        categories=[dict(id=i + 1, name=n) for i, n in enumerate(categories)],
        annotations=[dict(a, id=k + 1) for k, a in enumerate(anns)])
    path.write_text(json.dumps(dataset))
    return str(path)


def sample(img_id, boxes, scores, labels=None):
    labels = [0] * len(boxes) if labels is None else labels
    return dict(
        img_id=img_id,
        pred_instances=dict(
            bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            scores=torch.tensor(scores, dtype=torch.float32),
            labels=torch.tensor(labels, dtype=torch.int64)))


# The hand case of test_miss_rate.test_hand_case as a data set: image 1 has
# persons A, B and an ignored region R; image 2 a person C and a person D
# 15 px tall (outside 'Hard', so ignored). The riders' category (2) holds
# person B in the multi-class variant.
A, B, R = [0, 0, 10, 30], [20, 0, 30, 30], [50, 0, 100, 50]
C, D = [0, 0, 10, 30], [40, 0, 45, 15]
SAMPLES = [
    sample(1, [A, [60, 10, 70, 40], [1, 0, 11, 30], B],
           [0.9, 0.95, 0.8, 0.7], [0, 0, 0, 1]),
    sample(2, [D, [100, 100, 110, 130]], [0.85, 0.75], [1, 0]),
]
# Kept by score: .9 TP(A), .8 FP (A taken; IoU .82), .75 FP, .7 TP(B); .95
# lies in R and .85 on the ignored D: removed. 3 persons, 2 images:
# recall 1/3 1/3 1/3 2/3, precision 1 1/2 1/3 1/2, FPPI 0 .5 1 1.
# AP = 1/3 * 1 + 1/3 * 1/2 = 1/2; Recall = 2/3; miss rate at the 9 FPPI
# refs: 2/3 (eight refs < 1) and 1/3 (ref 1): mMR = (2/3)^(8/9) (1/3)^(1/9).
EXPECTED = {
    'widerperson/AP': 0.5,
    'widerperson/Recall': 2 / 3,
    'widerperson/mMR': (2 / 3)**(8 / 9) * (1 / 3)**(1 / 9),
}


@pytest.fixture(scope='module')
def single_class(tmp_path_factory):
    return write_ann(tmp_path_factory.mktemp('wp') / 'val.json',
                     [(1, 1, A), (1, 1, B), (2, 1, C), (2, 1, D)],
                     [(1, R)], ['pedestrians'])


@pytest.fixture(scope='module')
def two_classes(tmp_path_factory):
    return write_ann(tmp_path_factory.mktemp('wp2') / 'val.json',
                     [(1, 1, A), (1, 2, B), (2, 1, C), (2, 2, D)],
                     [(1, R)], ['pedestrians', 'riders'])


def run(ann_file, samples, classes, **kwargs):
    metric = METRICS.build(
        dict(type='WiderPersonMetric', ann_file=ann_file, **kwargs))
    metric.dataset_meta = dict(classes=classes)
    metric.process({}, samples[:1])
    metric.process({}, samples[1:])
    return metric.evaluate(size=len(samples))


def test_hand_case(single_class):
    res = run(single_class, SAMPLES, ('pedestrians', ))
    assert res == pytest.approx(EXPECTED)
    assert list(res) == list(EXPECTED)


def test_class_agnostic_merges_person_classes(two_classes):
    # Same boxes, B and D now 'riders': merged, the numbers do not change.
    res = run(two_classes, SAMPLES, ('pedestrians', 'riders'))
    assert res == pytest.approx(EXPECTED)
    # The dataset's class names need not match the file's when merged.
    assert run(two_classes, SAMPLES, ('person', )) == pytest.approx(EXPECTED)
    with pytest.raises(ValueError, match=r"dataset classes \['person'\]"):
        run(two_classes, SAMPLES, ('person', ), class_agnostic=False)


def test_per_class_and_person_classes(two_classes):
    res = run(two_classes, SAMPLES, ('pedestrians', 'riders'),
              class_agnostic=False)
    # pedestrians: A, C; label-0 detections by score .9 TP(A), .8 FP, .75
    # FP (.95 in R): recall 1/2, AP 1/2.
    # riders: B (D ignored by height); .85 on D removed, .7 TP(B): AP 1.
    assert res['widerperson/pedestrians_AP'] == pytest.approx(0.5)
    assert res['widerperson/riders_AP'] == pytest.approx(1.0)
    assert res['widerperson/AP'] == pytest.approx(0.75)
    assert res['widerperson/Recall'] == pytest.approx(0.75)

    # IterDet: only pedestrians are objects; riders are ignored boxes, so
    # the .7 detection on B is removed instead of being a TP.
    res = run(two_classes, SAMPLES, ('pedestrians', 'riders'),
              person_classes=['pedestrians'])
    # Kept: .9 TP(A), .8 FP, .75 FP; 2 persons: AP 1/2, recall 1/2.
    assert res['widerperson/AP'] == pytest.approx(0.5)
    assert res['widerperson/Recall'] == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"person_classes \['cyclists'\]"):
        run(two_classes, SAMPLES, ('pedestrians', 'riders'),
            person_classes=['cyclists'])


def test_hard_subset_boundary(tmp_path):
    # Heights 20 (ignored: Hard is h > 20) and 20.5 (evaluated). One
    # detection on each: the one on the 20 px box is removed, not a FP.
    h20, h205 = [0, 0, 10, 20], [50, 0, 60, 20.5]
    ann = write_ann(tmp_path / 'val.json', [(1, 1, h20), (1, 1, h205)], [],
                    ['pedestrians'])
    samples = [sample(1, [h20, h205], [0.9, 0.8]), sample(2, [], [])]
    res = run(ann, samples, ('pedestrians', ))
    assert res['widerperson/AP'] == pytest.approx(1.0)
    assert res['widerperson/Recall'] == pytest.approx(1.0)
    # Whole set (h > 0): both boxes count, both detections are TPs.
    res = run(ann, samples, ('pedestrians', ), height_range=(0, 1e9))
    assert res['widerperson/Recall'] == pytest.approx(1.0)
    # Only the 20 px box is evaluated with (10, 20]; the .8 detection on the
    # 20.5 px box is removed by that (now ignored) box (IoD 1): AP 1. The
    # Caltech height filter (keep [10 / 1.25, 20 * 1.25] = [8, 25]) keeps it.
    res = run(ann, samples, ('pedestrians', ), height_range=(10, 20),
              det_height_margin=1.25)
    assert res['widerperson/AP'] == pytest.approx(1.0)
    # A 30 px detection with the top score on image 2: dropped by the
    # height filter (AP 1), a false positive ranked first without it
    # (precision 1/2 at recall 1: AP 1/2).
    samples[1] = sample(2, [[100, 100, 110, 130]], [0.95])
    res = run(ann, samples, ('pedestrians', ), height_range=(10, 20),
              det_height_margin=1.25)
    assert res['widerperson/AP'] == pytest.approx(1.0)
    res = run(ann, samples, ('pedestrians', ), height_range=(10, 20))
    assert res['widerperson/AP'] == pytest.approx(0.5)  # FP ranked first


def test_matches_functional_and_errors(single_class):
    # The metric equals the functional evaluation built by hand.
    gts = [(np.array([A, B, R], float), np.array([False, False, True])),
           (np.array([C, D], float), np.array([False, True]))]
    dets = [(s['pred_instances']['bboxes'].numpy(),
             s['pred_instances']['scores'].numpy()) for s in SAMPLES]
    stats = evaluate_pedestrian(dets, gts)
    res = run(single_class, SAMPLES, ('pedestrians', ))
    for key in ('AP', 'Recall', 'mMR'):
        assert res[f'widerperson/{key}'] == pytest.approx(stats[key])

    with pytest.raises(ValueError, match='ann_file'):
        METRICS.build(dict(type='WiderPersonMetric'))
    with pytest.raises(ValueError, match='lo < hi'):
        METRICS.build(
            dict(type='WiderPersonMetric', ann_file=single_class,
                 height_range=(20, 10)))
    with pytest.raises(ValueError, match=r'img_id\(s\) not in'):
        run(single_class, [sample(7, [A], [0.5])], ('pedestrians', ))
