"""crossdino's ``LoadImageFromFile``: configs get it, bad files are named."""
import copy
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip('mmdet')

from mmcv.transforms import LoadImageFromFile as MMCVLoad  # noqa: E402
from mmdet.registry import DATASETS, TRANSFORMS  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import Compose  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

from crossdino.datasets import LoadImageFromFile  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def images(tmp_path):
    """A good PNG and the ways an image file breaks."""
    good = tmp_path / 'good.png'
    Image.new('RGB', (8, 6), (200, 30, 30)).save(good)
    data = good.read_bytes()
    (tmp_path / 'empty.png').write_bytes(b'')
    (tmp_path / 'cut.png').write_bytes(data[:len(data) // 2])
    (tmp_path / 'text.jpg').write_bytes(b'<html>404 Not Found</html>')
    return tmp_path


def test_configs_get_it_under_the_mmdet_scope():
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert TRANSFORMS.get('LoadImageFromFile') is LoadImageFromFile
        # mmengine's Compose (datasets) and mmcv's build the same class.
        built = Compose([dict(type='LoadImageFromFile')]).transforms[0]
        assert type(built) is LoadImageFromFile
        built = Compose([dict(type='mmcv.LoadImageFromFile')]).transforms[0]
        assert type(built) is MMCVLoad
    # A config's pipeline, built as tools/train.py builds it.
    cfg = Config.fromfile(str(ROOT / 'configs/_base_/datasets/visdrone.py'))
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset_cfg.update(lazy_init=True)
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(dataset_cfg)
    assert type(dataset.pipeline.transforms[0]) is LoadImageFromFile


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_good_image_as_mmcv(images, backend):
    results = dict(img_path=str(images / 'good.png'))
    ours = LoadImageFromFile(imdecode_backend=backend, to_float32=True)(
        dict(results))
    ref = MMCVLoad(imdecode_backend=backend, to_float32=True)(dict(results))
    np.testing.assert_array_equal(ours['img'], ref['img'])
    assert ours['img'].dtype == np.float32
    assert ours['img_shape'] == ours['ori_shape'] == (6, 8)


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
@pytest.mark.parametrize('name,reason', [
    ('empty.png', 'the file is empty (0 bytes)'),
    ('cut.png', None),
    ('text.jpg', None),
])
def test_undecodable_image_names_the_file(images, backend, name, reason):
    path = str(images / name)
    # mmcv's: the decoder's error (or an assertion) without the file name
    # for an empty file, as the issue reported.
    with pytest.raises(Exception) as mmcv_err:
        MMCVLoad(imdecode_backend=backend)(dict(img_path=path))
    if name == 'empty.png':
        assert path not in str(mmcv_err.value)

    with pytest.raises(ValueError) as err:
        LoadImageFromFile(imdecode_backend=backend)(dict(img_path=path))
    msg = str(err.value)
    assert msg.startswith(f'{path}: cannot decode the image: ')
    if reason is not None:
        assert reason in msg
    assert 'check_coco.py ANN_FILE --img-dir IMG_DIR --decode' in msg
    # skipped with ignore_empty, like mmcv's (which asserts on cv2's None)
    assert LoadImageFromFile(
        imdecode_backend=backend, ignore_empty=True)(
            dict(img_path=path)) is None


def test_missing_file_keeps_the_os_error(tmp_path):
    path = str(tmp_path / 'gone.jpg')
    with pytest.raises(FileNotFoundError, match='gone.jpg'):
        LoadImageFromFile()(dict(img_path=path))
    assert LoadImageFromFile(ignore_empty=True)(dict(img_path=path)) is None


def test_dataset_item_with_a_broken_image(images):
    ann = images / 'ann.json'
    ann.write_text(json.dumps(dict(
        images=[dict(id=1, file_name='empty.png', width=8, height=6)],
        annotations=[dict(id=1, image_id=1, category_id=1, bbox=[1, 1, 4, 4],
                          area=16, iscrowd=0)],
        categories=[dict(id=1, name='car')])))
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(dict(
            type='VisDroneDataset', data_root=str(images),
            ann_file='ann.json', data_prefix=dict(img=''),
            pipeline=[dict(type='LoadImageFromFile')]))
    with pytest.raises(ValueError, match=r'empty\.png: cannot decode'):
        dataset[0]
