# Copyright (c) crossdino contributors. All rights reserved.
"""Evaluate patch detections on the full images they were cut from.

DOTA and SODA-D are trained and tested on overlapping patches (see
:mod:`crossdino.datasets.converters.patches`) but reported on the original
images: each patch's detections are shifted by the patch offset, the
detections of all patches of an image are merged with class-wise NMS, and
the merged detections are scored against the full-image ground truth. This
is the protocol of the DOTA devkit (``ResultMerge``) and of CFINet for
SODA-D (``SODADDataset.merge_dets``: shift, then class-wise NMS at IoU 0.5,
the default here).

:class:`PatchMergeMetric` wraps any metric that takes mmdet's
``CocoMetric`` result format (``TinyObjectCocoMetric``, ``SODADMetric``,
``CocoMetric``) and whose ``ann_file`` is the full-image JSON::

    val_evaluator = dict(
        type='PatchMergeMetric',
        metric=dict(type='SODADMetric', ann_file='.../sodad-test.json'),
        patch_ann_file='.../sodad-test-patch800-stride650.json',
        nms_iou_thr=0.5)

Result keys are the inner metric's under its prefix (``coco/bbox_mAP``), so
``save_best`` and logs read the same as for full-image evaluation. Only the
full images whose patches were run are evaluated (a subset of the patch set
scores as if the full-image JSON held only those images, see
:mod:`.subset`).
"""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.ops import batched_nms
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.fileio import load

_OFFSET_KEYS = ('orig_image_id', 'x_offset', 'y_offset')


@METRICS.register_module()
class PatchMergeMetric(BaseMetric):
    """Merge patch detections back to full images, then run a metric.

    ``process()`` stores each patch's predictions shifted into its original
    image; ``compute_metrics()`` groups them per original image, merges them
    with class-wise NMS (``mmcv.ops.batched_nms``), keeps the
    ``max_per_img`` best and hands ``(gt, pred)`` pairs in ``CocoMetric``'s
    result format (``pred``: ``img_id``, ``bboxes`` (N, 4) xyxy,
    ``scores`` (N,), ``labels`` (N,)) to the inner metric's
    ``compute_metrics``.

    The patch of a data sample is found by its metainfo (``orig_image_id``,
    ``x_offset``, ``y_offset``, which crossdino's DOTA/SODA-D datasets copy
    from the patch JSON) or, when those keys are absent, by looking its
    ``img_id`` up in ``patch_ann_file``.

    Args:
        metric (dict): config of the inner metric; its ``ann_file`` must be
            the full-image JSON whose image ids the patch JSON's
            ``orig_image_id`` s refer to.
        patch_ann_file (str, optional): patch JSON written by
            :func:`~crossdino.datasets.converters.patches.split_coco_file`.
            Needed unless every data sample carries the offsets.
        nms_iou_thr (float, optional): IoU threshold of the class-wise NMS;
            None concatenates the patch detections without NMS.
            Defaults to 0.5.
        max_per_img (int, optional): detections kept per full image after
            NMS (highest scores); None keeps all. Defaults to None.
        clip_to_image (bool): clip merged boxes to the full image (needs the
            size, from ``patch_ann_file`` or the inner metric's COCO api).
            Defaults to True.
        collect_device (str): as in :class:`mmengine.evaluator.BaseMetric`.
        prefix (str, optional): defaults to the inner metric's prefix.
        backend_args (dict, optional): file backend of ``patch_ann_file``.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 metric: dict,
                 patch_ann_file: Optional[str] = None,
                 nms_iou_thr: Optional[float] = 0.5,
                 max_per_img: Optional[int] = None,
                 clip_to_image: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 backend_args: Optional[dict] = None) -> None:
        self.metric = METRICS.build(metric)
        super().__init__(
            collect_device=collect_device,
            prefix=prefix or self.metric.prefix)
        self.nms_iou_thr = nms_iou_thr
        self.max_per_img = max_per_img
        self.clip_to_image = clip_to_image
        # patch img_id -> (orig_image_id, x_offset, y_offset)
        self._patches: Dict[int, Tuple[int, float, float]] = {}
        # orig_image_id -> (width, height)
        self._sizes: Dict[int, Tuple[int, int]] = {}
        if patch_ann_file is not None:
            images = load(patch_ann_file, backend_args=backend_args)['images']
            for img in images:
                missing = [k for k in _OFFSET_KEYS if k not in img]
                if missing:
                    raise KeyError(
                        f'{patch_ann_file}: image {img.get("id")} has no '
                        f'{missing}; write it with tools/dataset_converters/'
                        'split_patches.py')
                self._patches[img['id']] = (img['orig_image_id'],
                                            img['x_offset'], img['y_offset'])
                if 'orig_width' in img:
                    self._sizes[img['orig_image_id']] = (img['orig_width'],
                                                         img['orig_height'])
        coco_api = getattr(self.metric, '_coco_api', None)
        if coco_api is not None:
            for img_id, img in coco_api.imgs.items():
                self._sizes.setdefault(img_id, (img['width'], img['height']))

    @property
    def dataset_meta(self) -> Optional[dict]:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        """Pass the dataset meta (classes) on to the inner metric."""
        self._dataset_meta = dataset_meta
        self.metric.dataset_meta = dataset_meta

    def _patch_of(self, data_sample: dict) -> Tuple[int, float, float]:
        if all(k in data_sample for k in _OFFSET_KEYS):
            return tuple(data_sample[k] for k in _OFFSET_KEYS)
        img_id = data_sample['img_id']
        if img_id not in self._patches:
            raise KeyError(
                f'patch img_id {img_id} carries no {list(_OFFSET_KEYS)} '
                'metainfo and is not in patch_ann_file')
        return self._patches[img_id]

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Store each patch's predictions in full-image coordinates.

        Args:
            data_batch (dict): unused.
            data_samples (Sequence[dict]): outputs of the model, with
                ``img_id``, ``pred_instances`` (``bboxes`` (N, 4) xyxy in
                patch pixels, ``scores``, ``labels``) and optionally the
                offset metainfo.
        """
        for sample in data_samples:
            orig_id, dx, dy = self._patch_of(sample)
            pred = sample['pred_instances']
            shift = np.array([dx, dy, dx, dy], dtype=np.float32)
            self.results.append(
                dict(
                    orig_img_id=orig_id,
                    bboxes=pred['bboxes'].cpu().numpy().reshape(-1, 4) +
                    shift,
                    scores=pred['scores'].cpu().numpy(),
                    labels=pred['labels'].cpu().numpy()))

    def merge(self, results: List[dict]) -> List[dict]:
        """Group shifted patch predictions per image and merge them.

        Args:
            results (list[dict]): entries of :meth:`process`.

        Returns:
            list[dict]: one ``pred`` per original image, ordered by id, with
            ``img_id``, ``bboxes`` (M, 4) float32, ``scores`` (M,) and
            ``labels`` (M,) sorted by decreasing score.
        """
        groups = defaultdict(list)
        for res in results:
            groups[res['orig_img_id']].append(res)
        merged = []
        for img_id in sorted(groups):
            parts = groups[img_id]
            bboxes = torch.from_numpy(
                np.concatenate([p['bboxes'] for p in parts]).astype(
                    np.float32))
            scores = torch.from_numpy(
                np.concatenate([p['scores'] for p in parts]).astype(
                    np.float32))
            labels = torch.from_numpy(
                np.concatenate([p['labels'] for p in parts]).astype(
                    np.int64))
            if self.clip_to_image and img_id in self._sizes:
                w, h = self._sizes[img_id]
                bboxes[:, 0::2].clamp_(0, w)
                bboxes[:, 1::2].clamp_(0, h)
            if self.nms_iou_thr is not None and len(bboxes) > 0:
                _, keep = batched_nms(
                    bboxes, scores, labels,
                    dict(type='nms', iou_threshold=self.nms_iou_thr))
            else:
                keep = torch.argsort(scores, descending=True)
            if self.max_per_img is not None:
                keep = keep[:self.max_per_img]
            merged.append(
                dict(
                    img_id=img_id,
                    bboxes=bboxes[keep].numpy(),
                    scores=scores[keep].numpy(),
                    labels=labels[keep].numpy()))
        return merged

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Merge per image and return the inner metric's results.

        Args:
            results (list): entries of :meth:`process` from all ranks.

        Returns:
            dict[str, float]: the inner metric's ``compute_metrics`` on the
            merged full-image predictions (without prefix).
        """
        inner = []
        for pred in self.merge(results):
            w, h = self._sizes.get(pred['img_id'], (0, 0))
            gt = dict(img_id=pred['img_id'], width=w, height=h)
            inner.append((gt, pred))
        # crossdino's metrics evaluate the images of `inner` only; mmdet's
        # CocoMetric evaluates `img_ids` (all of its ann_file when None).
        if hasattr(self.metric, 'img_ids'):
            self.metric.img_ids = [pred['img_id'] for _, pred in inner]
        return self.metric.compute_metrics(inner)
