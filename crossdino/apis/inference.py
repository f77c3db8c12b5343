"""Batched inference of any crossdino/mmdet detector on image files.

The Python API behind ``tools/infer.py``::

    from mmdet.apis import init_detector
    from crossdino.apis import list_images, predict_images, to_coco_json

    # mmdet's loader (tools/infer.py loads strictly instead:
    # crossdino.utils.build_detector_offline)
    model = init_detector('configs/cross_dino_visdrone.py', 'epoch_12.pth',
                          device='cuda:0')
    paths = list_images(['frames/'])          # a file, a folder or a glob
    results = list(predict_images(model, paths, batch_size=4))
    coco = to_coco_json(results, model.dataset_meta['classes'])

Each image goes through the config's test pipeline (images of any size are
resized by it), batches of ``batch_size`` images run in one ``test_step``,
and the boxes come back in original-image pixels. An unreadable image stops
the run with an error that names the file.
"""
import glob
import os.path as osp
from typing import Iterator, List, NamedTuple, Optional, Sequence

from mmdet.structures import DetDataSample

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff',
                    '.webp')


class DetectionResult(NamedTuple):
    """One image's predictions: its path, (height, width) and the
    ``DetDataSample`` whose ``pred_instances`` hold ``bboxes`` (n, 4) xyxy in
    original-image pixels, ``scores`` (n,) and ``labels`` (n,)."""
    path: str
    shape: tuple
    sample: DetDataSample


def list_images(inputs: Sequence[str]) -> List[str]:
    """Image files named by ``inputs``: files, folders (their images, not
    recursive, sorted) and glob patterns; each found once, in order.

    Raises:
        FileNotFoundError: an input matches nothing, or no image is found.
    """
    found = []
    for item in inputs:
        if osp.isdir(item):
            names = sorted(f for f in glob.glob(osp.join(item, '*'))
                           if f.lower().endswith(IMAGE_EXTENSIONS))
        elif osp.isfile(item):
            names = [item]
        else:
            names = sorted(glob.glob(item, recursive=True))
            if not names:
                raise FileNotFoundError(
                    f'"{item}" is no file or folder and matches no file')
        found += [n for n in names if n not in found]
    if not found:
        raise FileNotFoundError(
            f'no image ({", ".join(IMAGE_EXTENSIONS)}) in {list(inputs)}')
    return found


def _test_pipeline(cfg):
    """The config's test pipeline without its annotation loading."""
    from mmcv.transforms import Compose
    from mmdet.utils import get_test_pipeline_cfg
    steps = [dict(t) for t in get_test_pipeline_cfg(cfg)
             if 'LoadAnnotations' not in t['type']]
    for t in steps:
        if t['type'] == 'PackDetInputs':
            t['meta_keys'] = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                              'scale_factor')
    return Compose(steps)


def predict_images(model, paths: Sequence[str],
                   batch_size: int = 1) -> Iterator[DetectionResult]:
    """Predictions of ``model`` for ``paths``, ``batch_size`` images per
    forward pass, in order. ``model.cfg`` is the config whose test pipeline
    prepares the images (``mmdet.apis.init_detector`` sets it).

    Raises:
        ValueError / OSError: an image cannot be read; names the file.
    """
    import torch
    from mmengine.dataset import pseudo_collate
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    pipeline = _test_pipeline(model.cfg)
    model.eval()
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        data = [pipeline(dict(img_path=p, img_id=start + i))
                for i, p in enumerate(chunk)]
        with torch.no_grad():
            samples = model.test_step(pseudo_collate(data))
        for p, s in zip(chunk, samples):
            yield DetectionResult(p, tuple(s.ori_shape), s)


def to_coco_json(results: Sequence[DetectionResult],
                 classes: Optional[Sequence[str]] = None) -> dict:
    """A COCO dataset dict of the predictions (``images``, ``categories``
    with ids 1..C, ``annotations`` with ``bbox`` [x, y, w, h] and
    ``score``): ``pycocotools.coco.COCO`` loads it, and its annotations are
    COCO results for ``COCO.loadRes`` against ground truth with the same
    image ids and file names."""
    images, annotations = [], []
    num_classes = 0
    for img_id, r in enumerate(results, start=1):
        h, w = r.shape[:2]
        images.append(dict(id=img_id, file_name=osp.basename(r.path),
                           path=r.path, height=int(h), width=int(w)))
        pred = r.sample.pred_instances
        boxes = pred.bboxes.tolist()
        labels = pred.labels.tolist()
        num_classes = max([num_classes] + [lb + 1 for lb in labels])
        for (x1, y1, x2, y2), score, label in zip(boxes,
                                                   pred.scores.tolist(),
                                                   labels):
            annotations.append(dict(
                id=len(annotations) + 1, image_id=img_id,
                category_id=int(label) + 1,
                bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1),
                score=float(score), iscrowd=0))
    names = list(classes) if classes else [str(i) for i in
                                           range(num_classes)]
    return dict(images=images, annotations=annotations,
                categories=[dict(id=i + 1, name=n)
                            for i, n in enumerate(names)])
