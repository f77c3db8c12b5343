"""Tests for :class:`crossdino.datasets.VisDroneDataset`."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip('mmdet')

from mmcv.transforms import LoadImageFromFile  # noqa: E402
from mmdet.datasets.transforms import (LoadAnnotations,  # noqa: E402
                                       PackDetInputs, RandomFlip)
from mmdet.registry import DATASETS  # noqa: E402

from crossdino.datasets import VisDroneDataset  # noqa: E402
from crossdino.datasets.converters import (VISDRONE_CLASSES,  # noqa: E402
                                           convert_visdrone_split)

WIDTH, HEIGHT = 60, 40


@pytest.fixture
def data_root(tmp_path):
    """One image with two objects, an ignored region and an "others" box,
    one with only an ignored region and one without annotations."""
    split = tmp_path / 'VisDrone2019-DET-val'
    (split / 'images').mkdir(parents=True)
    (split / 'annotations').mkdir()
    for stem in ('a', 'b', 'c'):
        Image.new('RGB', (WIDTH, HEIGHT)).save(split / 'images' /
                                               f'{stem}.jpg')
    (split / 'annotations' / 'a.txt').write_text(
        '1,2,10,8,1,4,0,0\n'
        '30,5,4,6,1,1,1,0\n'
        '20,20,12,10,0,0,0,0\n'
        '50,30,20,20,0,11,0,0\n')  # clipped to 10x10
    (split / 'annotations' / 'b.txt').write_text('5,5,6,6,0,0,0,0\n')
    convert_visdrone_split(split, tmp_path / 'annotations' / 'val.json')
    return tmp_path


def build(data_root, pipeline=(), **kwargs):
    return VisDroneDataset(
        data_root=str(data_root),
        ann_file='annotations/val.json',
        data_prefix=dict(img='VisDrone2019-DET-val/images/'),
        pipeline=list(pipeline),
        **kwargs)


def test_registered_and_metainfo():
    assert DATASETS.get('VisDroneDataset') is VisDroneDataset
    meta = VisDroneDataset.METAINFO
    assert meta['classes'] == VISDRONE_CLASSES
    assert len(set(meta['palette'])) == len(meta['palette']) == 10


def test_ignored_regions_become_ignored_instances(data_root):
    dataset = build(data_root, test_mode=True)
    assert len(dataset) == 3
    info = dataset.get_data_info(0)
    assert Path(info['img_path']).name == 'a.jpg'
    assert info['instances'] == [
        dict(bbox=[1.0, 2.0, 11.0, 10.0], bbox_label=3, ignore_flag=0),
        dict(bbox=[30.0, 5.0, 34.0, 11.0], bbox_label=0, ignore_flag=0),
        dict(bbox=[20.0, 20.0, 32.0, 30.0], bbox_label=-1, ignore_flag=1),
        dict(bbox=[50.0, 30.0, 60.0, 40.0], bbox_label=-1, ignore_flag=1),
    ]
    assert dataset.get_data_info(1)['instances'] == [
        dict(bbox=[5.0, 5.0, 11.0, 11.0], bbox_label=-1, ignore_flag=1)
    ]
    assert dataset.get_data_info(2)['instances'] == []


def test_filter_empty_gt_ignores_ignored_regions(data_root):
    dataset = build(
        data_root, filter_cfg=dict(filter_empty_gt=True, min_size=0))
    assert [Path(d['img_path']).name for d in dataset] == ['a.jpg']


def test_pipeline_packs_ignored_instances(data_root):
    pipeline = [
        LoadImageFromFile(),
        LoadAnnotations(with_bbox=True),
        RandomFlip(prob=1.0, direction='horizontal'),
        PackDetInputs(),
    ]
    sample = build(data_root, pipeline, test_mode=True)[0]['data_samples']
    gt, ignored = sample.gt_instances, sample.ignored_instances
    assert gt.labels.tolist() == [3, 0]
    assert ignored.labels.tolist() == [-1, -1]
    # Ignored regions are flipped with the image: x -> WIDTH - x.
    np.testing.assert_allclose(
        ignored.bboxes.numpy(),
        [[WIDTH - 32, 20, WIDTH - 20, 30], [WIDTH - 60, 30, WIDTH - 50, 40]])
    np.testing.assert_allclose(gt.bboxes.numpy()[0],
                               [WIDTH - 11, 2, WIDTH - 1, 10])
