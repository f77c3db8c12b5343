"""tools/infer.py and crossdino.apis on a tiny DINO: a folder, a glob and a
large image; boxes in original-image pixels; the JSON loads with
pycocotools; an unreadable image is named."""
import json
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from pycocotools.coco import COCO

import crossdino  # noqa: F401
from crossdino.apis import list_images, predict_images, to_coco_json
from crossdino.utils import build_detector_offline

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CFG = osp.join(ROOT, 'tests', 'configs', 'dino_tiny_synthetic.py')
CLASSES = [f'c{i}' for i in range(10)]


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """The tiny DINO with random weights, saved as a checkpoint."""
    tmp = tmp_path_factory.mktemp('infer')
    cfg = Config.fromfile(TINY_CFG)
    torch.manual_seed(0)
    model = build_detector_offline(cfg)
    ckpt = str(tmp / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=CLASSES))), ckpt)
    rng = np.random.default_rng(0)
    small = (rng.random((96, 128, 3)) * 255).astype(np.uint8)
    images = tmp / 'images'
    mmcv.imwrite(small, str(images / 'a.png'))
    # the same picture 3x larger (nearest): the test pipeline's bilinear
    # resize back to 128x96 samples the block centres, the exact pixels
    mmcv.imwrite(small.repeat(3, 0).repeat(3, 1), str(images / 'b.png'))
    mmcv.imwrite((rng.random((3000, 4000, 3)) * 255).astype(np.uint8),
                 str(tmp / 'drone.jpg'))
    model.cfg = cfg
    return model, ckpt, tmp


def test_boxes_are_in_original_image_pixels(tiny):
    model, _, tmp = tiny
    a, b = predict_images(model, list_images([str(tmp / 'images')]),
                          batch_size=2)
    assert (a.shape, b.shape) == ((96, 128), (288, 384))
    pa, pb = a.sample.pred_instances, b.sample.pred_instances
    assert len(pa) == 20
    torch.testing.assert_close(pb.scores, pa.scores)
    torch.testing.assert_close(pb.bboxes, 3 * pa.bboxes, rtol=1e-4,
                               atol=1e-3)


def test_infer_tool_folder_glob_and_large_image(tiny):
    from tools.infer import main as infer
    _, ckpt, tmp = tiny
    out = tmp / 'out'
    infer([TINY_CFG, ckpt, str(tmp / 'images'), str(tmp / '*.jpg'),
           '--out-dir', str(out), '--batch-size', '2', '--score-thr', '0'])
    coco = COCO(str(out / 'predictions.json'))
    names = [img['file_name'] for img in coco.dataset['images']]
    assert names == ['a.png', 'b.png', 'drone.jpg']
    assert [c['name'] for c in coco.dataset['categories']] == CLASSES
    drone = coco.dataset['images'][2]
    assert (drone['height'], drone['width']) == (3000, 4000)
    anns = coco.imgToAnns[drone['id']]
    assert len(anns) == 20
    xywh = np.array([a['bbox'] for a in anns])
    assert (xywh[:, 0] >= 0).all() and (xywh[:, 0] + xywh[:, 2] <= 4000).all()
    assert xywh[:, 2].max() > 200  # original pixels, not the 128x96 input
    assert all(osp.isfile(out / 'vis' / n) for n in names)
    assert mmcv.imread(str(out / 'vis' / 'drone.jpg')).shape[:2] == (3000,
                                                                    4000)


def test_infer_tool_slices_from_the_original(tiny):
    from tools.infer import main as infer
    _, ckpt, tmp = tiny
    out = tmp / 'sliced'
    # uniform slicing implied by the vicrop settings; b.png is 3x larger
    # than the network input, so its tiles come from the original pixels
    infer([TINY_CFG, ckpt, str(tmp / 'images' / 'b.png'), '--out-dir',
           str(out), '--no-draw', '--cfg-options', 'vicrop.mode=uniform',
           'vicrop.budget=4.0', 'vicrop.max_per_img=50'])
    coco = COCO(str(out / 'predictions.json'))
    xywh = np.array([a['bbox'] for a in coco.dataset['annotations']])
    assert 20 < len(xywh) <= 50  # crop detections were merged in
    assert (xywh[:, 0] >= 0).all() and (xywh[:, 0] + xywh[:, 2] <= 384).all()


def test_unreadable_image_is_named(tiny, tmp_path):
    model, _, _ = tiny
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'not a jpeg')
    with pytest.raises((ValueError, OSError), match='broken.jpg'):
        list(predict_images(model, [str(bad)]))


def test_list_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='matches no file'):
        list_images([str(tmp_path / 'nothing*.png')])
    with pytest.raises(FileNotFoundError, match='no image'):
        list_images([str(tmp_path)])


def test_coco_json_of_no_detections_loads(tiny, tmp_path):
    model, _, tmp = tiny
    results = list(predict_images(model, [str(tmp / 'images' / 'a.png')]))
    results[0].sample.pred_instances = results[0].sample.pred_instances[:0]
    path = tmp_path / 'p.json'
    path.write_text(json.dumps(to_coco_json(results, CLASSES)))
    coco = COCO(str(path))
    assert len(coco.dataset['annotations']) == 0
    assert len(coco.dataset['categories']) == 10
