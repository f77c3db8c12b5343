# Copyright (c) crossdino contributors. All rights reserved.
"""Tests for ``PatchMergeMetric``: patch split + merge-back round trip."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.registry import METRICS
from mmengine.config import Config

import crossdino  # noqa: F401  (registers the metrics and datasets)
from crossdino.datasets.converters.patches import split_coco_file
from crossdino.evaluation.metrics import PatchMergeMetric

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLASSES = ('car', 'person', 'sign')


def make_full_coco(path, seed=0):
    """Two images with non-overlapping objects of 4-30 px on a 40 px grid."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for img_id, (w, h) in enumerate([(300, 200), (170, 130)], 1):
        images.append(dict(id=img_id, file_name=f'{img_id}.png', width=w,
                           height=h))
        for gx in range(0, w - 39, 40):
            for gy in range(0, h - 39, 40):
                if rng.random() < 0.3:
                    continue
                bw, bh = rng.integers(4, 31, 2)
                x = gx + rng.integers(0, 40 - bw + 1)
                y = gy + rng.integers(0, 40 - bh + 1)
                box = [float(x), float(y), float(bw), float(bh)]
                anns.append(
                    dict(id=len(anns) + 1, image_id=img_id,
                         category_id=int(rng.integers(1, 4)), bbox=box,
                         area=box[2] * box[3], iscrowd=0))
    coco = dict(images=images, annotations=anns,
                categories=[dict(id=i, name=n)
                            for i, n in enumerate(CLASSES, 1)])
    with open(path, 'w') as f:
        json.dump(coco, f)
    return coco


def gt_as_predictions(patch_coco, with_meta):
    """Each patch's objects as its predictions (score grows with area).

    A cut copy of an object is smaller than the whole one, so it scores
    lower and NMS keeps the whole box.
    """
    samples = []
    for img in patch_coco['images']:
        objs = [a for a in patch_coco['annotations']
                if a['image_id'] == img['id'] and a['iscrowd'] == 0]
        xywh = np.array([a['bbox'] for a in objs]).reshape(-1, 4)
        bboxes = np.c_[xywh[:, :2], xywh[:, :2] + xywh[:, 2:]]
        sample = dict(
            img_id=img['id'],
            ori_shape=(img['height'], img['width']),
            pred_instances=dict(
                bboxes=torch.tensor(bboxes, dtype=torch.float32),
                scores=torch.tensor(xywh[:, 2] * xywh[:, 3] / 1000.0,
                                    dtype=torch.float32),
                labels=torch.tensor([a['category_id'] - 1 for a in objs],
                                    dtype=torch.int64)))
        if with_meta:
            sample.update(orig_image_id=img['orig_image_id'],
                          x_offset=img['x_offset'], y_offset=img['y_offset'])
        samples.append(sample)
    return samples


@pytest.fixture(scope='module')
def split_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('merge')
    full_json, patch_json = str(tmp / 'full.json'), str(tmp / 'patch.json')
    coco = make_full_coco(full_json)
    # gap 32 >= every object side: each object is whole in some patch
    summary = split_coco_file(full_json, None, patch_json, None,
                              patch_size=96, stride=64, min_visible=0.7)
    with open(patch_json) as f:
        patch_coco = json.load(f)
    return coco, patch_coco, full_json, patch_json, summary


@pytest.mark.parametrize('with_meta', [False, True])
def test_round_trip_returns_original_boxes(split_files, with_meta):
    coco, patch_coco, full_json, patch_json, summary = split_files
    assert summary['objects_never_whole'] == 0
    assert summary['cut_kept'] > 0 and summary['cut_ignored'] > 0
    metric = METRICS.build(
        dict(type='PatchMergeMetric',
             metric=dict(type='TinyObjectCocoMetric', ann_file=full_json),
             patch_ann_file=None if with_meta else patch_json,
             nms_iou_thr=0.5))
    metric.dataset_meta = dict(classes=CLASSES)
    assert metric.metric.dataset_meta == dict(classes=CLASSES)
    samples = gt_as_predictions(patch_coco, with_meta)
    metric.process({}, samples)

    merged = metric.merge(metric.results)
    assert [m['img_id'] for m in merged] == [1, 2]
    for m in merged:
        want = sorted(
            (a['category_id'] - 1, *a['bbox'][:2],
             a['bbox'][0] + a['bbox'][2], a['bbox'][1] + a['bbox'][3])
            for a in coco['annotations'] if a['image_id'] == m['img_id'])
        got = sorted((int(lbl), *map(float, box))
                     for lbl, box in zip(m['labels'], m['bboxes']))
        assert got == want
        assert (np.diff(m['scores']) <= 0).all()  # sorted by score

    results = metric.evaluate(len(samples))
    assert metric.prefix == 'coco'
    assert results['coco/bbox_mAP'] == pytest.approx(1.0)
    assert results['coco/bbox_mAP_50'] == pytest.approx(1.0)
    assert metric.results == []


def test_window_count_and_no_nms_keeps_duplicates(split_files):
    coco, patch_coco, full_json, patch_json, _ = split_files
    # 300 x 200: x starts 0, 64, 128, 192, 204; y 0, 64, 104 -> 15 windows;
    # 170 x 130: x 0, 64, 74; y 0, 34 -> 6 windows (21 in all)
    counts = np.bincount([i['orig_image_id'] for i in patch_coco['images']])
    assert counts.tolist() == [0, 15, 6]
    metric = PatchMergeMetric(
        metric=dict(type='TinyObjectCocoMetric', ann_file=full_json),
        patch_ann_file=patch_json, nms_iou_thr=None)
    metric.process({}, gt_as_predictions(patch_coco, False))
    merged = metric.merge(metric.results)
    n_patch_objs = sum(a['iscrowd'] == 0 for a in patch_coco['annotations'])
    assert sum(len(m['bboxes']) for m in merged) == n_patch_objs
    assert n_patch_objs > len(coco['annotations'])


def test_hand_computed_merge(tmp_path):
    full = dict(
        images=[dict(id=1, file_name='a.png', width=60, height=40)],
        annotations=[],
        categories=[dict(id=1, name='car'), dict(id=2, name='person')])
    patches = dict(
        images=[
            dict(id=11, file_name='a__0_0.png', width=40, height=40,
                 orig_image_id=1, x_offset=0, y_offset=0),
            dict(id=12, file_name='a__20_0.png', width=40, height=40,
                 orig_image_id=1, x_offset=20, y_offset=0),
        ],
        annotations=[], categories=full['categories'])
    full_json, patch_json = tmp_path / 'f.json', tmp_path / 'p.json'
    full_json.write_text(json.dumps(full))
    patch_json.write_text(json.dumps(patches))
    metric = PatchMergeMetric(
        metric=dict(type='TinyObjectCocoMetric', ann_file=str(full_json)),
        patch_ann_file=str(patch_json), max_per_img=3)

    def sample(img_id, boxes, scores, labels):
        return dict(img_id=img_id, pred_instances=dict(
            bboxes=torch.tensor(boxes, dtype=torch.float32),
            scores=torch.tensor(scores), labels=torch.tensor(labels)))

    metric.process({}, [
        sample(11, [[22, 5, 32, 15], [30, 30, 45, 41]], [0.9, 0.3], [0, 0]),
        sample(12, [[2, 5, 12, 15], [2, 5, 12, 15], [30, 0, 38, 8],
                    [35, 20, 39, 24]], [0.8, 0.7, 0.6, 0.1], [0, 1, 0, 0]),
    ])
    (merged, ) = metric.merge(metric.results)
    # patch 12's car at (2, 5) is (22, 5) in the image: a duplicate of
    # patch 11's, removed; the person there is another class and stays;
    # (30, 0, 38, 8) + 20 = (50, 0, 58, 8); patch 11's (45, 41) corner is
    # clipped to the 60 x 40 image; max_per_img=3 drops the 0.1 box.
    np.testing.assert_allclose(merged['bboxes'], [[22, 5, 32, 15],
                                                  [22, 5, 32, 15],
                                                  [50, 0, 58, 8]])
    np.testing.assert_allclose(merged['scores'], [0.9, 0.7, 0.6])
    assert merged['labels'].tolist() == [0, 1, 0]
    with pytest.raises(KeyError, match='img_id 99'):
        metric.process({}, [sample(99, [[0, 0, 1, 1]], [0.5], [0])])


def test_sodad_config_evaluator_builds(tmp_path, split_files):
    _, _, full_json, patch_json, _ = split_files
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/_base_/datasets/sodad.py'))
    ev = cfg.test_evaluator
    assert ev.type == 'PatchMergeMetric' and ev.nms_iou_thr == 0.5
    assert ev.metric.type == 'SODADMetric'
    assert ev.metric.ann_file.endswith('annotations/sodad-test.json')
    assert ev.patch_ann_file.endswith('sodad-test-patch800-stride650.json')
    ev.metric.ann_file, ev.patch_ann_file = full_json, patch_json
    metric = METRICS.build(ev)
    assert type(metric.metric).__name__ == 'SODADMetric'
    pipeline = cfg.test_pipeline
    assert dict(type='Resize', scale=(1200, 1200), keep_ratio=True) in \
        pipeline
    assert {'orig_image_id', 'x_offset', 'y_offset'} <= set(
        pipeline[-1]['meta_keys'])
    dota = Config.fromfile(
        osp.join(ROOT, 'configs/_base_/datasets/dota_v15.py'))
    assert dota.test_evaluator.metric.ann_file.endswith('dota-v1.5-val.json')
    assert dota.train_dataloader.dataset.ann_file == \
        'annotations/dota-v1.5-train-patch1024-stride824.json'


def test_dataset_passes_offsets_to_metric(tmp_path):
    """DOTAv15Dataset + the config's test pipeline carry the patch offsets.
    """
    from mmdet.utils import register_all_modules
    from PIL import Image

    from crossdino.datasets import DOTAv15Dataset, SODADDataset
    register_all_modules()  # mmdet's transforms in the default scope
    img_dir = tmp_path / 'full'
    img_dir.mkdir()
    Image.new('RGB', (90, 50)).save(img_dir / 'P1.png')
    full = dict(
        images=[dict(id=1, file_name='P1.png', width=90, height=50)],
        annotations=[dict(id=1, image_id=1, category_id=16,
                          bbox=[50, 10, 20, 20], area=400, iscrowd=0,
                          difficult=0)],
        categories=[dict(id=i, name=n) for i, n in enumerate(
            DOTAv15Dataset.METAINFO['classes'], 1)])
    (tmp_path / 'full.json').write_text(json.dumps(full))
    split_coco_file(tmp_path / 'full.json', img_dir, tmp_path / 'p.json',
                    tmp_path / 'patches', patch_size=64, stride=48)
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/_base_/datasets/dota_v15.py'))
    dataset = DOTAv15Dataset(
        data_root=str(tmp_path), ann_file='p.json',
        data_prefix=dict(img='patches/'), test_mode=True,
        pipeline=cfg.test_pipeline)
    assert len(dataset) == 2 and len(SODADDataset.METAINFO['classes']) == 9
    item = dataset[1]
    meta = item['data_samples'].metainfo
    assert (meta['orig_image_id'], meta['x_offset'], meta['y_offset']) == (
        1, 26, 0)
    # container-crane at x 50..70 is x 24..44 in the patch at 26 (the test
    # pipeline loads the boxes after Resize: patch pixels)
    np.testing.assert_allclose(
        item['data_samples'].gt_instances.bboxes.tensor, [[24, 10, 44, 30]])
    assert meta['img_shape'] == (800, 1024)  # 64 x 50 patch, resized
    sample = item['data_samples'].to_dict()
    sample['pred_instances'] = dict(
        bboxes=torch.tensor([[24., 10., 44., 30.]]),
        scores=torch.tensor([0.9]), labels=torch.tensor([15]))
    metric = PatchMergeMetric(
        metric=dict(type='TinyObjectCocoMetric',
                    ann_file=str(tmp_path / 'full.json')))
    metric.dataset_meta = dataset.metainfo
    metric.process({}, [sample])
    (merged, ) = metric.merge(metric.results)
    np.testing.assert_allclose(merged['bboxes'], [[50, 10, 70, 30]])
