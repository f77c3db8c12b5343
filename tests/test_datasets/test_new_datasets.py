"""WiderPerson / NWPU VHR-10 / AI-TOD dataset classes and their base configs.

Each dataset class reads the JSON its converter writes (ignored regions
become ignored instances), and each ``configs/_base_/datasets`` piece loads
with the paper's protocol and runs its pipelines on the converted data.
"""
import copy
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip('mmdet')

from mmdet.registry import DATASETS  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

from crossdino.datasets import (AITODDataset, NWPUVHR10Dataset,  # noqa: E402
                                WiderPersonDataset)
from crossdino.datasets.converters import (  # noqa: E402
    NWPU_VHR10_CLASSES, convert_nwpu_vhr10, convert_widerperson_split)

ROOT = Path(__file__).resolve().parents[2]
CFG_DIR = ROOT / 'configs' / '_base_' / 'datasets'

register_all_modules(init_default_scope=False)


def build(dataset_cfg, data_root):
    """Build a config's dataset (and its pipeline) on ``data_root``."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(
            dict(copy.deepcopy(dataset_cfg), data_root=str(data_root)))


@pytest.fixture
def widerperson_root(tmp_path):
    """'a': a pedestrian, a rider and an ignore region; 'b': only a crowd
    box; 'c': no box."""
    root = tmp_path / 'WiderPerson'
    (root / 'Images').mkdir(parents=True)
    (root / 'Annotations').mkdir()
    for stem in ('a', 'b', 'c'):
        Image.new('RGB', (60, 40), (90, 90, 90)).save(root / 'Images' /
                                                      f'{stem}.jpg')
    (root / 'Annotations' / 'a.jpg.txt').write_text(
        '3\n1 1 2 11 30\n2 30 5 40 25\n4 50 30 70 50\n')
    (root / 'Annotations' / 'b.jpg.txt').write_text('1\n5 5 5 25 25\n')
    (root / 'Annotations' / 'c.jpg.txt').write_text('0\n')
    (root / 'train.txt').write_text('a\nb\nc\n')
    (root / 'val.txt').write_text('a\nb\nc\n')
    for split in ('train', 'val'):
        convert_widerperson_split(
            root, split, root / 'annotations' / f'widerperson_{split}.json')
    return root


def test_registered_and_metainfo():
    assert DATASETS.get('WiderPersonDataset') is WiderPersonDataset
    assert DATASETS.get('NWPUVHR10Dataset') is NWPUVHR10Dataset
    assert DATASETS.get('AITODDataset') is AITODDataset
    assert WiderPersonDataset.METAINFO['classes'] == ('pedestrian', )
    assert NWPUVHR10Dataset.METAINFO['classes'] == NWPU_VHR10_CLASSES
    assert AITODDataset.METAINFO['classes'] == (
        'airplane', 'bridge', 'storage-tank', 'ship', 'swimming-pool',
        'vehicle', 'person', 'wind-mill')
    for cls in (WiderPersonDataset, NWPUVHR10Dataset, AITODDataset):
        meta = cls.METAINFO
        assert len(set(meta['palette'])) == len(meta['classes'])


def test_widerperson_ignored_regions_become_ignored_instances(
        widerperson_root):
    dataset = WiderPersonDataset(
        data_root=str(widerperson_root),
        ann_file='annotations/widerperson_val.json',
        data_prefix=dict(img='Images/'),
        test_mode=True,
        pipeline=[])
    assert len(dataset) == 3
    info = dataset.get_data_info(0)
    assert Path(info['img_path']).name == 'a.jpg'
    assert info['instances'] == [
        dict(bbox=[1.0, 2.0, 11.0, 30.0], bbox_label=0, ignore_flag=0),
        dict(bbox=[30.0, 5.0, 40.0, 25.0], bbox_label=-1, ignore_flag=1),
        dict(bbox=[50.0, 30.0, 60.0, 40.0], bbox_label=-1, ignore_flag=1),
    ]
    assert dataset.get_data_info(1)['instances'] == [
        dict(bbox=[5.0, 5.0, 25.0, 25.0], bbox_label=-1, ignore_flag=1)
    ]
    assert dataset.get_data_info(2)['instances'] == []


def test_widerperson_config_pipeline(widerperson_root):
    cfg = Config.fromfile(CFG_DIR / 'widerperson.py')
    assert cfg.val_evaluator.type == 'WiderPersonMetric'
    assert cfg.val_evaluator.ann_file.endswith(
        'annotations/widerperson_val.json')
    assert cfg.train_dataloader.dataset.pipeline[2] == dict(
        type='RandomResize', scale=[(1000, 600), (1666, 1000)],
        keep_ratio=True)
    # Training drops the images without a pedestrian (IterDet).
    train = build(cfg.train_dataloader.dataset, widerperson_root)
    assert len(train) == 1
    sample = train[0]
    h, w = sample['inputs'].shape[1:]
    # 60x40 scaled into [(1000, 600), (1666, 1000)] with the aspect kept.
    assert 600 <= h <= 1000 and w == pytest.approx(1.5 * h, abs=2)
    assert sample['data_samples'].gt_instances.labels.tolist() == [0]
    assert len(sample['data_samples'].ignored_instances) == 2
    val = build(cfg.val_dataloader.dataset, widerperson_root)
    assert val[0]['inputs'].shape[1:] == (800, 1200)


@pytest.fixture
def nwpu_root(tmp_path):
    root = tmp_path / 'NWPU-VHR-10'
    for folder in ('positive image set', 'negative image set',
                   'ground truth'):
        (root / folder).mkdir(parents=True)
    for i in range(1, 6):
        Image.new('RGB', (50, 40)).save(root / 'positive image set' /
                                        f'{i:03d}.jpg')
        (root / 'ground truth' / f'{i:03d}.txt').write_text(
            f'(1,2),(21,32),{i}\n(30,5),(45,15),10\n')
    for i in range(1, 3):
        Image.new('RGB', (50, 40)).save(root / 'negative image set' /
                                        f'{i:03d}.jpg')
    convert_nwpu_vhr10(root, root / 'annotations', ratios=(0.6, 0.2, 0.2))
    return root


def test_nwpu_dataset_and_config(nwpu_root):
    cfg = Config.fromfile(CFG_DIR / 'nwpu_vhr10.py')
    assert cfg.test_evaluator.type == cfg.val_evaluator.type == 'VOCAPMetric'
    assert cfg.test_evaluator.ann_file.endswith('nwpu_vhr10_test.json')
    assert cfg.test_dataloader.dataset.ann_file.endswith(
        'nwpu_vhr10_test.json')
    train = build(cfg.train_dataloader.dataset, nwpu_root)
    # 5 positives -> 3 train, 2 negatives -> round(1.2) = 1 train.
    files = [Path(d['img_path']).relative_to(nwpu_root).as_posix()
             for d in train.load_data_list()]
    assert len(files) == 4
    assert sum(f.startswith('negative image set/') for f in files) == 1
    for idx in range(len(train)):  # the negative image goes through too
        sample = train[idx]
        h, w = sample['inputs'].shape[1:]
        assert h == w and h in range(480, 801, 32)
        labels = sample['data_samples'].gt_instances.labels.tolist()
        negative = files[idx].startswith('negative')
        assert len(labels) == (0 if negative else 2)
    test = build(cfg.test_dataloader.dataset, nwpu_root)
    assert all(s['inputs'].shape[1:] == (640, 640) for s in test)
    info = NWPUVHR10Dataset(
        data_root=str(nwpu_root),
        ann_file='annotations/nwpu_vhr10_test.json',
        data_prefix=dict(img=''), test_mode=True,
        pipeline=[]).get_data_info(0)
    # The test subset holds one positive image, '<i>.jpg' with class i and a
    # vehicle (label 9).
    i = int(Path(info['img_path']).stem)
    assert info['img_path'] == str(nwpu_root / 'positive image set' /
                                   f'{i:03d}.jpg')
    assert info['instances'] == [
        dict(bbox=[1.0, 2.0, 21.0, 32.0], bbox_label=i - 1, ignore_flag=0),
        dict(bbox=[30.0, 5.0, 45.0, 15.0], bbox_label=9, ignore_flag=0),
    ]


def test_aitod_dataset_and_configs(tmp_path):
    (tmp_path / 'test' / 'images').mkdir(parents=True)
    Image.new('RGB', (80, 60)).save(tmp_path / 'test' / 'images' / 'x.png')
    coco = dict(
        images=[dict(id=1, file_name='x.png', width=80, height=60)],
        annotations=[
            dict(id=1, image_id=1, category_id=8, bbox=[10, 10, 4, 6],
                 area=24, iscrowd=0),
            dict(id=2, image_id=1, category_id=3, bbox=[50, 20, 8, 8],
                 area=64, iscrowd=0)
        ],
        categories=[dict(id=i + 1, name=n)
                    for i, n in enumerate(AITODDataset.METAINFO['classes'])])
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'annotations' / 'aitod_test_v1.json').write_text(
        json.dumps(coco))
    cfg = Config.fromfile(CFG_DIR / 'aitod.py')
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.train_dataloader.dataset.ann_file.endswith(
        'aitod_trainval_v1.json')
    assert cfg.test_evaluator.type == 'TinyObjectCocoMetric'
    assert tuple(cfg.test_evaluator.max_dets) == (100, 300, 1500)
    for name, side in (('aitod.py', 800), ('aitod_1200.py', 1200)):
        cfg = Config.fromfile(CFG_DIR / name)
        assert cfg.train_dataloader.dataset.pipeline[2].scale == (side, side)
        test = build(cfg.test_dataloader.dataset, tmp_path)
        sample = test[0]
        # 80x60 -> keep ratio into side x side: the long side becomes side.
        assert sample['inputs'].shape[1:] == (side * 3 // 4, side)
        assert sample['data_samples'].gt_instances.labels.tolist() == [7, 2]
        np.testing.assert_allclose(
            sample['data_samples'].gt_instances.bboxes.tensor.numpy(),
            [[10, 10, 14, 16], [50, 20, 58, 28]])


def test_coco_and_voc_configs():
    coco = Config.fromfile(CFG_DIR / 'coco_detection.py')
    assert coco.train_dataloader.dataset.type == 'CocoDataset'
    assert coco.val_evaluator.type == 'CocoMetric'
    assert coco.train_dataloader.dataset.pipeline[3].type == 'RandomChoice'
    voc = Config.fromfile(CFG_DIR / 'voc0712.py')
    datasets = voc.train_dataloader.dataset.datasets
    assert [(d.type, d.ann_file) for d in datasets] == [
        ('VOCDataset', 'VOC2007/ImageSets/Main/trainval.txt'),
        ('VOCDataset', 'VOC2012/ImageSets/Main/trainval.txt')
    ]
    assert (voc.test_dataloader.dataset.ann_file ==
            'annotations/voc07_test.json')
    assert voc.test_evaluator.type == 'VOCAPMetric'
    assert len(voc.test_dataloader.dataset.metainfo.classes) == 20


def test_missing_annotation_file_hint(tmp_path):
    for cls, script in ((WiderPersonDataset, 'widerperson2coco.py'),
                        (NWPUVHR10Dataset, 'nwpu_vhr10_2coco.py'),
                        (AITODDataset, 'check_coco.py')):
        with pytest.raises(FileNotFoundError, match=script):
            cls(data_root=str(tmp_path), ann_file='nope.json', pipeline=[])
