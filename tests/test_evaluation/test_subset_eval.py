# Copyright (c) crossdino contributors. All rights reserved.
"""A subset of the images evaluates like an annotation file of that subset.

``--cfg-options test_dataloader.dataset.indices=N`` runs N images; every
metric must score them as if ``ann_file`` held only those images, instead of
counting the objects of the images that were not run as misses (mmdet's
CocoMetric evaluates every image of its file).
"""
import copy
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.registry import METRICS

import crossdino  # noqa: F401  (registers the metrics)
from crossdino.datasets.converters.patches import split_coco_file
from crossdino.evaluation import evaluate_tiny_coco

CLASSES = ('car', 'person', 'sign')
IMG_IDS = (1, 2, 3, 4, 5)
SUBSET = (2, 4)  # the images that were "run"


def make_coco(seed=0):
    """5 images of 320x240 with 8-14 objects of 4-70 px and one ignored
    region (VisDrone layout: ``category_id=0, iscrowd=1, ignore=1``)."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for img_id in IMG_IDS:
        images.append(dict(id=img_id, file_name=f'{img_id}.png', width=320,
                           height=240))
        for _ in range(int(rng.integers(8, 15))):
            w, h = (float(v) for v in rng.integers(4, 71, 2))
            x = float(rng.integers(0, 320 - w))
            y = float(rng.integers(0, 240 - h))
            anns.append(dict(image_id=img_id,
                             category_id=int(rng.integers(1, 4)),
                             bbox=[x, y, w, h], area=w * h, iscrowd=0))
    anns.append(dict(image_id=SUBSET[0], category_id=0,
                     bbox=[250.0, 180.0, 60.0, 50.0], area=3000.0,
                     iscrowd=1, ignore=1))
    return dict(
        images=images,
        categories=[dict(id=i, name=n) for i, n in enumerate(CLASSES, 1)],
        annotations=[dict(a, id=i) for i, a in enumerate(anns, 1)])


def only_images(coco, img_ids):
    """``coco`` reduced to ``img_ids`` (their images and annotations)."""
    return dict(
        coco,
        images=[i for i in coco['images'] if i['id'] in img_ids],
        annotations=[a for a in coco['annotations']
                     if a['image_id'] in img_ids])


def predictions(coco, img_ids, seed=1, meta=None):
    """Jittered objects (some dropped, some mislabelled) plus false
    positives, as data samples of the images ``img_ids`` (with
    ``meta[img_id]`` added to the metainfo, e.g. patch offsets)."""
    rng = np.random.default_rng(seed)
    samples = []
    for img in coco['images']:
        if img['id'] not in img_ids:
            continue
        objs = [a for a in coco['annotations']
                if a['image_id'] == img['id'] and a['category_id'] > 0]
        objs = [a for a in objs if rng.random() > 0.2]
        xywh = np.array([a['bbox'] for a in objs]).reshape(-1, 4)
        xywh[:, :2] += rng.uniform(-3, 3, (len(objs), 2))
        labels = np.array([a['category_id'] - 1 for a in objs], np.int64)
        flip = rng.random(len(labels)) < 0.15
        labels[flip] = (labels[flip] + 1) % len(CLASSES)
        fp = np.c_[rng.uniform(0, 250, (3, 2)), rng.uniform(5, 60, (3, 2))]
        xywh = np.r_[xywh, fp]
        labels = np.r_[labels, rng.integers(0, len(CLASSES), 3)]
        bboxes = np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]]
        sample = dict(
            img_id=img['id'],
            ori_shape=(img['height'], img['width']),
            pred_instances=dict(
                bboxes=torch.tensor(bboxes, dtype=torch.float32),
                scores=torch.tensor(rng.random(len(bboxes)),
                                    dtype=torch.float32),
                labels=torch.tensor(labels, dtype=torch.int64)))
        sample.update((meta or {}).get(img['id'], {}))
        samples.append(sample)
    return samples


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('subset')
    coco = make_coco()
    full, subset = str(tmp / 'full.json'), str(tmp / 'subset.json')
    with open(full, 'w') as f:
        json.dump(coco, f)
    with open(subset, 'w') as f:
        json.dump(only_images(coco, SUBSET), f)
    return coco, full, subset


def evaluate(cfg, samples):
    metric = METRICS.build(cfg)
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, copy.deepcopy(samples))
    return metric.evaluate(len(samples))


def assert_same(got, want):
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key


METRIC_CFGS = {
    'tiny_coco': dict(type='TinyObjectCocoMetric', classwise=True),
    'sodad': dict(type='SODADMetric', classwise=True),
    'voc_ap': dict(type='VOCAPMetric', classwise=True),
    'widerperson': dict(type='WiderPersonMetric', height_range=(10, 1e9)),
    'widerperson_per_class': dict(
        type='WiderPersonMetric', height_range=(10, 1e9),
        class_agnostic=False),
}


@pytest.mark.parametrize('name', sorted(METRIC_CFGS))
def test_subset_equals_annotation_file_of_the_subset(files, name):
    coco, full, subset = files
    samples = predictions(coco, SUBSET)
    on_full = evaluate(dict(METRIC_CFGS[name], ann_file=full), samples)
    on_subset = evaluate(dict(METRIC_CFGS[name], ann_file=subset), samples)
    assert_same(on_full, on_subset)
    assert max(on_subset.values()) > 0.1  # a non-trivial evaluation


def coco_detections(samples):
    """Predictions as COCO result dicts (xywh, category ids from 1)."""
    dets = []
    for s in samples:
        pred = s['pred_instances']
        for (x1, y1, x2, y2), score, label in zip(
                pred['bboxes'].tolist(), pred['scores'].tolist(),
                pred['labels'].tolist()):
            dets.append(dict(image_id=s['img_id'], category_id=label + 1,
                             bbox=[x1, y1, x2 - x1, y2 - y1], score=score))
    return dets


def test_whole_file_would_score_lower(files):
    """What the metrics reported before: the other images' objects as misses
    (this is why the test above fails without the subset rule)."""
    coco, full, subset = files
    samples = predictions(coco, SUBSET)
    on_subset = evaluate(
        dict(type='TinyObjectCocoMetric', ann_file=subset), samples)
    from pycocotools.coco import COCO
    gt = COCO(full)
    dets = coco_detections(samples)
    everything = evaluate_tiny_coco(gt, dets)  # every image of the file
    assert everything['mAP'] < 0.7 * on_subset['coco/bbox_mAP']


def test_all_images_run_is_unchanged(files):
    coco, full, _ = files
    samples = predictions(coco, IMG_IDS)
    got = evaluate(dict(type='TinyObjectCocoMetric', ann_file=full), samples)
    from pycocotools.coco import COCO
    dets = coco_detections(samples)
    want = evaluate_tiny_coco(COCO(full), dets)
    assert got['coco/bbox_mAP'] == pytest.approx(want['mAP'], abs=1e-6)


def test_image_without_detections_still_counts_its_misses(files):
    coco, full, subset = files
    samples = predictions(coco, SUBSET)
    empty = samples[1]['pred_instances']
    for key in ('bboxes', 'scores', 'labels'):
        empty[key] = empty[key][:0]
    on_full = evaluate(dict(type='TinyObjectCocoMetric', ann_file=full),
                       samples)
    on_subset = evaluate(dict(type='TinyObjectCocoMetric', ann_file=subset),
                         samples)
    assert_same(on_full, on_subset)
    with_dets = evaluate(dict(type='TinyObjectCocoMetric', ann_file=subset),
                         predictions(coco, SUBSET))
    assert on_subset['coco/bbox_AR@100'] < with_dets['coco/bbox_AR@100']


@pytest.mark.parametrize('name', ['tiny_coco', 'widerperson'])
def test_results_of_another_set_are_refused(files, name):
    coco, _, subset = files
    samples = predictions(coco, (1, 2))  # image 1 is not in the subset file
    samples[0]['pred_instances']['bboxes'] = \
        samples[0]['pred_instances']['bboxes'][:0]
    samples[0]['pred_instances']['scores'] = \
        samples[0]['pred_instances']['scores'][:0]
    samples[0]['pred_instances']['labels'] = \
        samples[0]['pred_instances']['labels'][:0]
    with pytest.raises(ValueError, match='not in'):
        evaluate(dict(METRIC_CFGS[name], ann_file=subset), samples)


@pytest.mark.parametrize('inner', ['TinyObjectCocoMetric', 'CocoMetric'])
def test_patch_merge_evaluates_the_full_images_that_were_run(
        files, tmp_path, inner):
    coco, full, subset = files
    patch_json = str(tmp_path / 'patches.json')
    split_coco_file(full, None, patch_json, None, patch_size=160, stride=120,
                    min_visible=0.7)
    with open(patch_json) as f:
        patches = json.load(f)
    # All patches of the full images SUBSET, as data samples with offsets.
    run = [p for p in patches['images'] if p['orig_image_id'] in SUBSET]
    meta = {
        p['id']: dict(orig_image_id=p['orig_image_id'],
                      x_offset=p['x_offset'], y_offset=p['y_offset'])
        for p in run
    }
    samples = predictions(patches, set(meta), meta=meta)
    assert len(samples) == len(run) > len(SUBSET)

    def cfg(ann_file):
        inner_cfg = dict(type=inner, ann_file=ann_file)
        if inner == 'CocoMetric':
            inner_cfg.update(metric='bbox')
        return dict(type='PatchMergeMetric', metric=inner_cfg)

    on_full = evaluate(cfg(full), samples)
    on_subset = evaluate(cfg(subset), samples)
    assert_same(on_full, on_subset)
    assert on_subset['coco/bbox_mAP'] > 0.1
