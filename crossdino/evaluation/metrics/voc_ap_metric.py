# Copyright (c) crossdino contributors. All rights reserved.
"""mAP@0.5 and mAP@0.5:0.95 for PASCAL VOC and NWPU VHR-10 (HMPE Table 1).

HMPE (Table 1-3) reports two numbers per data set, "mAP" (IoU 0.5) and
"mAP@0.95" (the COCO average over IoU 0.50:0.05:0.95), and states that the
remaining detection standards follow RT-DETR [33], whose evaluator is the
COCO API. This metric therefore uses **one code path**: COCO JSON ground
truth evaluated by
:func:`crossdino.evaluation.functional.evaluate_tiny_coco` (pycocotools,
101-point interpolated AP, at most 100 detections per image), reading the
numbers ``mAP_50`` and ``mAP`` of that single run.

* NWPU VHR-10: this repo's converter writes COCO JSON.
* PASCAL VOC (XML): convert the test split with mmdet's
  ``tools/dataset_converters/pascal_voc.py``; it writes 'difficult'
  objects as ``iscrowd=1``, which COCOeval ignores (neither a miss nor a
  false positive when matched), as VOC does.

Deviation: this is *not* the VOC devkit AP. mmdet's ``VOCMetric`` uses
11-point (VOC2007) or all-point (VOC2012) interpolation of the VOC
matching and gives slightly different numbers; HMPE's table follows the COCO
API convention of RT-DETR, which is reproduced here.

Example config::

    val_evaluator = dict(
        type='VOCAPMetric',
        ann_file='data/VOCdevkit/voc07_test.json')
"""
from collections import OrderedDict
from typing import Dict, Optional, Sequence

from mmdet.registry import METRICS

from .tiny_coco_metric import TinyObjectCocoMetric


@METRICS.register_module()
class VOCAPMetric(TinyObjectCocoMetric):
    """``mAP50`` and ``mAP50_95`` from one COCOeval run.

    Keys (with the default prefix): ``pascal_voc/mAP50``,
    ``pascal_voc/mAP50_95``; with ``classwise=True`` also
    ``pascal_voc/<class>_AP50`` and ``pascal_voc/<class>_AP50_95``.
    Values are fractions in [0, 1] (HMPE prints percent).

    Args:
        ann_file (str): COCO JSON ground truth.
        max_dets (Sequence[int]): Detections per image. Defaults to (100, ).
        ignore_overlap_thr (float, optional): Ignored-region rule of
            :class:`TinyObjectCocoMetric` (no-op without ignored regions).
            Defaults to 0.5.
        classwise (bool): Also report per-class APs. Defaults to False.
        **kwargs: Other :class:`TinyObjectCocoMetric` arguments
            (``format_only``, ``outfile_prefix``, ``backend_args``, ...),
            except ``area_ranges``, ``iou_thrs`` and ``metric_items``.
    """
    default_prefix: Optional[str] = 'pascal_voc'

    def __init__(self,
                 ann_file: Optional[str] = None,
                 max_dets: Sequence[int] = (100, ),
                 ignore_overlap_thr: Optional[float] = 0.5,
                 classwise: bool = False,
                 **kwargs) -> None:
        for key in ('area_ranges', 'iou_thrs', 'metric_items'):
            if key in kwargs:
                raise TypeError(f'VOCAPMetric does not take `{key}`: it '
                                'always reports mAP50 and mAP50_95.')
        super().__init__(
            ann_file=ann_file,
            max_dets=max_dets,
            area_ranges={},
            ignore_overlap_thr=ignore_overlap_thr,
            classwise=classwise,
            **kwargs)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Evaluate and keep the two HMPE numbers.

        Args:
            results (list): ``(gt, pred)`` pairs from :meth:`process`.

        Returns:
            dict[str, float]: ``mAP50``, ``mAP50_95`` (and per-class APs);
            empty with ``format_only``.
        """
        stats = super().compute_metrics(results)
        if not stats:
            return stats
        out = OrderedDict(
            mAP50=stats['bbox_mAP_50'], mAP50_95=stats['bbox_mAP'])
        if self.classwise:
            for cat_id in self.cat_ids:
                name = self._coco_api.cats[cat_id]['name']
                out[f'{name}_AP50'] = stats[f'bbox_{name}_AP_50']
                out[f'{name}_AP50_95'] = stats[f'bbox_{name}_AP']
        return out
