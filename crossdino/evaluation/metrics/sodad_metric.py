# Copyright (c) crossdino contributors. All rights reserved.
"""SODA-D metric: COCO AP with SODA's small-object area ranges.

SODA (Cheng et al., "Towards Large-Scale Small Object Detection: Survey and
Benchmarks", TPAMI 2023) reports AP for extremely small (``AP_eS``),
relatively small (``AP_rS``), generally small (``AP_gS``) and normal
(``AP_N``) objects; Cross-DINO (Sec. IV-A c), Table V) adopts the protocol
of SODA and CFINet. The ranges used here are those of CFINet's SODA-D
evaluator (github.com/shaunyuan22/CFINet,
``mmdet/datasets/sodad_eval/sodadeval.py``, ``SODADParams.setDetParams``),
on the annotated ``area`` in px²:

======  ====================  ==================
name    area (px²)            sqrt(area) (px)
======  ====================  ==================
Small   [0, 32²]              [0, 32]
eS      [0, 12²]              [0, 12]
rS      [12², 20²]            [12, 20]
gS      [20², 32²]            [20, 32]
N       [32², 40 * 50]        [32, ~44.7]
======  ====================  ==================

Both ends are inclusive, as in pycocotools (a GT is outside a range iff
``area < lo or area > hi``), so an object of area exactly 144 counts in both
eS and rS. SODA-D's headline "AP" (and its AP_50/AP_75) is computed on the
'Small' range, with at most 100 detections per image and class (the first
``maxDets``), on the merged full-resolution images.

What this metric reports and how it differs from CFINet's evaluator:

* ``bbox_AP_Small`` is SODA-D's headline AP (IoU .50:.95, area <= 32²);
  ``bbox_AP_eS``/``rS``/``gS``/``N`` are the size APs of Table V.
* ``bbox_AP_Small_50`` and ``bbox_AP_Small_75`` are SODA-D's AP_50 and
  AP_75 (area <= 32²), read from the same COCOeval run
  (``range_iou_aps=True``; ``bbox_AP_eS_50`` ... come with them).
* ``bbox_mAP``, ``bbox_mAP_50``, ``bbox_mAP_75`` are COCO's, over **all**
  areas (Normal objects included): not SODA-D's headline numbers unless the
  ground truth has no object larger than 32².
* ``max_dets`` defaults to ``(100, )`` so that all APs use 100 detections
  per image and class like CFINet's; pass e.g. ``(100, 300, 1000)`` for
  CFINet's AR@300/AR@1000 (then APs use 1000).
* Ignored regions (SODA-D's ``ignore`` class; this repo's converters write
  them as ``category_id=0, iscrowd=1, ignore=1``) are outside the evaluated
  categories and thus dropped, as in CFINet: ``ignore_overlap_thr``
  defaults to None. Set it (e.g. 0.5) to apply the VisDrone rule instead.
* CFINet computes IoU with ``iscrowd`` forced to 0 and reads the per-object
  ``ignore`` flag; pycocotools (used here) treats ``iscrowd=1`` objects as
  crowd. Identical for SODA-D, whose objects are not crowd.

Example config::

    val_evaluator = dict(
        type='SODADMetric',
        ann_file='data/SODA-D/Annotations/test.json')
"""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from mmdet.registry import METRICS

from .tiny_coco_metric import TinyObjectCocoMetric

#: SODA-D ranges ``name -> (lo, hi)`` in px² (CFINet's ``SODADParams``).
SODAD_AREA_RANGES: Dict[str, Tuple[float, float]] = {
    'eS': (0.0, 12.0**2),
    'rS': (12.0**2, 20.0**2),
    'gS': (20.0**2, 32.0**2),
    'N': (32.0**2, 40.0 * 50.0),
    'Small': (0.0, 32.0**2),
}


@METRICS.register_module()
class SODADMetric(TinyObjectCocoMetric):
    """:class:`TinyObjectCocoMetric` with SODA-D's ranges and defaults.

    Keys (after the evaluator's ``coco/`` prefix): ``bbox_mAP``,
    ``bbox_mAP_50``, ``bbox_mAP_75`` (all areas), ``bbox_AP_eS``,
    ``bbox_AP_rS``, ``bbox_AP_gS``, ``bbox_AP_N``, ``bbox_AP_Small``
    (SODA-D's headline AP), ``bbox_AP_Small_50``, ``bbox_AP_Small_75``
    (SODA-D's AP_50/AP_75), the matching ``bbox_AR_*`` and COCO's
    ``bbox_mAP_s/m/l``, ``bbox_AR@100``...

    Args:
        ann_file (str): COCO JSON ground truth of the full images.
        max_dets (Sequence[int]): See :class:`TinyObjectCocoMetric`.
            Defaults to (100, ).
        area_ranges (Mapping[str, Sequence[float]], optional): Defaults to
            :data:`SODAD_AREA_RANGES`.
        ignore_overlap_thr (float, optional): Defaults to None (ignored
            regions are dropped, not applied).
        range_iou_aps (bool): Also report AP_50 and AP_75 per range.
            Defaults to True.
        **kwargs: Other :class:`TinyObjectCocoMetric` arguments.
    """

    def __init__(self,
                 ann_file: Optional[str] = None,
                 max_dets: Sequence[int] = (100, ),
                 area_ranges: Optional[Mapping[str, Sequence[float]]] = None,
                 ignore_overlap_thr: Optional[float] = None,
                 range_iou_aps: bool = True,
                 **kwargs) -> None:
        super().__init__(
            ann_file=ann_file,
            max_dets=max_dets,
            area_ranges=(SODAD_AREA_RANGES
                         if area_ranges is None else area_ranges),
            ignore_overlap_thr=ignore_overlap_thr,
            range_iou_aps=range_iou_aps,
            **kwargs)

    def copypaste_keys(self) -> List[str]:
        """Table V's order: AP, AP50, AP75 (on 'Small', as CFINet's
        ``stats[0:3]``), then AP_eS, AP_rS, AP_gS, AP_N."""
        if not self.range_iou_aps or 'Small' not in self.area_ranges:
            return super().copypaste_keys()
        return ['AP_Small', 'AP_Small_50', 'AP_Small_75'] + [
            f'AP_{name}' for name in self.area_ranges if name != 'Small'
        ]
