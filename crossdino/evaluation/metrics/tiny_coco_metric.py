# Copyright (c) crossdino contributors. All rights reserved.
"""COCO metric with tiny-object (AI-TOD) ranges and VisDrone ignored regions.

A thin :class:`mmdet.evaluation.CocoMetric` subclass: ``process()``, the
annotation loading, ``cat_ids`` handling and the
``outfile_prefix``/``format_only`` behaviour are inherited, and
``compute_metrics()`` delegates the numbers to
:func:`crossdino.evaluation.functional.evaluate_tiny_coco`. Unlike
CocoMetric, only the images present in the results are evaluated
(:mod:`crossdino.evaluation.metrics.subset`), so a subset of the set scores
as if the annotation file held only those images.

Example config::

    val_evaluator = dict(
        type='TinyObjectCocoMetric',
        ann_file='data/VisDrone/annotations/visdrone2019-det-val.json',
        max_dets=(100, 300, 1500),
        ignore_overlap_thr=0.5)
"""
import math
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS
from mmengine.fileio import load
from mmengine.logging import MMLogger, print_log
from terminaltables import AsciiTable

from ..functional import (COCO_AREA_RANGES, TINY_AREA_RANGES,
                          cocoeval_class, evaluate_tiny_coco)
from .subset import evaluated_img_ids


def _size_range(lo: float, hi: float) -> str:
    """Format an area range in px² as a side-length range in px."""
    lo, hi = math.sqrt(lo), math.sqrt(hi)
    if hi >= 1e5:
        return f'>= {lo:g}' if lo > 0 else 'any'
    return f'< {hi:g}' if lo == 0 else f'{lo:g} - {hi:g}'


@METRICS.register_module()
class TinyObjectCocoMetric(CocoMetric):
    """COCO bbox metric extended for tiny objects and ignored regions.

    Reports COCO's ``mAP``/``mAP_50``/``mAP_75``/``mAP_s``/``mAP_m``/
    ``mAP_l`` together with the AI-TOD / Cross-DINO tiny-object APs
    (``AP_vt``, ``AP_t``, ``AP_s_aitod``, ``AP_m_aitod``: < 8, 8-16, 16-32,
    > 32 px; ``mAP_s`` is COCO's < 32 px) and recalls, all from one
    COCOeval run with up to ``max(max_dets)`` detections per image. VisDrone
    ignored regions in ``ann_file`` are honoured (see
    :func:`~crossdino.evaluation.functional.filter_ignored`). Keys carry the
    ``bbox_`` prefix, e.g. ``bbox_mAP`` and ``bbox_AP_vt``; the evaluator adds
    ``default_prefix`` (``coco/bbox_mAP``).

    Args:
        ann_file (str): COCO JSON with the ground truth (and ignored regions).
            Required: converting GT from data samples is not supported.
        metric (str | list[str]): Only ``'bbox'``. Defaults to ``'bbox'``.
        max_dets (Sequence[int]): Max detections per image
            (``COCOeval.params.maxDets``); AP uses the largest.
            Defaults to (100, 300, 1500).
        area_ranges (Mapping[str, Sequence[float]], optional): Tiny-object
            ranges ``name -> [lo, hi]`` in px², reported as ``AP_<name>``
            and ``AR_<name>``. Defaults to
            :data:`~crossdino.evaluation.functional.TINY_AREA_RANGES`.
        ignore_overlap_thr (float, optional): Boxes covered by more than this
            fraction by ignored regions are ignored; None disables it.
            Defaults to 0.5.
        classwise (bool): Also report per-class AP and AP_50.
            Defaults to False.
        range_iou_aps (bool): Also report ``AP_<name>_50`` and
            ``AP_<name>_75`` per tiny range. Defaults to False.
        backend (str): ``'faster'`` (faster-coco-eval's C++ COCOeval,
            default) or ``'pycocotools'``: the same numbers, about 50x
            apart in time at 1500 detections per image.
        **kwargs: Other :class:`~mmdet.evaluation.CocoMetric` arguments
            (``iou_thrs``, ``metric_items``, ``format_only``,
            ``outfile_prefix``, ``backend_args``, ``prefix``, ...).
            ``metric_items`` selects keys of the result without ``bbox_``.
    """

    def __init__(self,
                 ann_file: Optional[str] = None,
                 metric: Union[str, List[str]] = 'bbox',
                 max_dets: Sequence[int] = (100, 300, 1500),
                 area_ranges: Optional[Mapping[str, Sequence[float]]] = None,
                 ignore_overlap_thr: Optional[float] = 0.5,
                 classwise: bool = False,
                 range_iou_aps: bool = False,
                 backend: str = 'faster',
                 **kwargs) -> None:
        if ann_file is None:
            raise ValueError(
                f'{self.__class__.__name__} requires `ann_file` (COCO JSON '
                'with the ignored regions); converting the ground truth '
                'from data samples is not supported.')
        metrics = [metric] if isinstance(metric, str) else list(metric)
        if metrics != ['bbox']:
            raise ValueError(
                f'{self.__class__.__name__} only supports metric="bbox", '
                f'got {metric!r}; use CocoMetric for segm/proposal.')
        if 'proposal_nums' in kwargs:
            raise TypeError('use `max_dets` instead of `proposal_nums`.')
        self.max_dets = sorted(set(int(m) for m in max_dets))
        super().__init__(
            ann_file=ann_file,
            metric='bbox',
            classwise=classwise,
            proposal_nums=self.max_dets,
            **kwargs)
        self.area_ranges = {
            name: (float(lo), float(hi))
            for name, (lo, hi) in (TINY_AREA_RANGES if area_ranges is None
                                   else area_ranges).items()
        }
        self.ignore_overlap_thr = ignore_overlap_thr
        self.range_iou_aps = range_iou_aps
        cocoeval_class(backend)  # a missing package fails here, not later
        self.backend = backend

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute the metrics from processed results.

        Args:
            results (list): ``(gt, pred)`` pairs from :meth:`process`; ``pred``
                holds ``img_id``, ``bboxes`` (N, 4) xyxy, ``scores`` (N, )
                and ``labels`` (N, ) as indices into ``self.cat_ids``.

        Returns:
            dict[str, float]: ``bbox_<key>`` for every key of
            :func:`~crossdino.evaluation.functional.evaluate_tiny_coco`
            (or of ``metric_items``); empty with ``format_only``.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        _, preds = zip(*results)

        tmp_dir = None
        if self.outfile_prefix is None:
            tmp_dir = tempfile.TemporaryDirectory()
            outfile_prefix = osp.join(tmp_dir.name, 'results')
        else:
            outfile_prefix = self.outfile_prefix

        # Lazy init as in CocoMetric; without dataset meta (e.g. a metric
        # built on its own) labels index the annotation file's categories.
        if self.cat_ids is None:
            classes = (self.dataset_meta or {}).get('classes')
            self.cat_ids = (
                self._coco_api.get_cat_ids(cat_names=classes)
                if classes is not None else self._coco_api.get_cat_ids())
        # Evaluate the images that were run, not every image of ann_file:
        # a subset (`test_dataloader.dataset.indices`, a patch-merged subset)
        # would otherwise count all other images' objects as misses.
        # mmdet's CocoMetric caches `self.img_ids` from the annotation file;
        # it is computed per call here. Under DDP `results` are gathered
        # from all ranks before this method runs.
        try:
            result_files = self.results2json(preds, outfile_prefix)
            if self.format_only:
                logger.info('results are saved in '
                            f'{osp.dirname(outfile_prefix)}')
                return OrderedDict()
            img_ids = evaluated_img_ids((pred['img_id'] for pred in preds),
                                        self._coco_api.get_img_ids())
            logger.info('Evaluating bbox (tiny objects)...')
            stats = evaluate_tiny_coco(
                self._coco_api,
                load(result_files['bbox']),
                area_ranges=self.area_ranges,
                max_dets=self.max_dets,
                iou_thrs=np.atleast_1d(self.iou_thrs),
                ignore_overlap_thr=self.ignore_overlap_thr,
                classwise=self.classwise,
                cat_ids=self.cat_ids,
                img_ids=img_ids,
                range_iou_aps=self.range_iou_aps,
                backend=self.backend)
        finally:
            if tmp_dir is not None:
                tmp_dir.cleanup()

        self._log_tables(stats, logger)
        items = stats if self.metric_items is None else self.metric_items
        unknown = [item for item in items if item not in stats]
        if unknown:
            raise KeyError(f'metric items {unknown} are not supported; '
                           f'choose from {list(stats)}.')
        return OrderedDict((f'bbox_{item}', stats[item]) for item in items)

    def copypaste_keys(self) -> List[str]:
        """Keys of the copypaste line, in the papers' table order: AP,
        AP50, AP75, then the tiny ranges (Cross-DINO's APvt, APt, APs, APm
        are ``AP_vt``, ``AP_t``, ``AP_s_aitod``, ``AP_m_aitod``)."""
        return ['mAP', 'mAP_50', 'mAP_75'] + [
            f'AP_{name}' for name in self.area_ranges
        ]

    def _log_tables(self, stats: Dict[str, float], logger: MMLogger) -> None:
        """Log AP/AR per area range, a copypaste line and per-class APs."""
        top = self.max_dets[-1]
        rows = [['range', 'size (px)', 'AP', f'AR@{top}']]
        coco_keys = dict(all=('mAP', f'AR@{top}'))
        for name in ('small', 'medium', 'large'):
            coco_keys[name] = (f'mAP_{name[0]}', f'AR_{name[0]}@{top}')
        for name, (ap, ar) in coco_keys.items():
            rows.append([
                name, _size_range(*COCO_AREA_RANGES[name]),
                f'{stats[ap]:.3f}', f'{stats[ar]:.3f}'
            ])
        for name, (lo, hi) in self.area_ranges.items():
            rows.append([
                f'tiny {name}',
                _size_range(lo, hi), f'{stats[f"AP_{name}"]:.3f}',
                f'{stats[f"AR_{name}"]:.3f}'
            ])
        print_log('\n' + AsciiTable(rows).table, logger=logger)

        print_log(
            'bbox_mAP_copypaste: ' +
            ' '.join(f'{stats[k]:.3f}' for k in self.copypaste_keys()),
            logger=logger)
        print_log(
            ' '.join(f'AR@{m}: {stats[f"AR@{m}"]:.3f}'
                     for m in self.max_dets), logger=logger)

        if self.classwise:
            rows = [['category', 'AP', 'AP_50']]
            for cat_id in self.cat_ids:
                cat_name = self._coco_api.cats[cat_id]['name']
                rows.append([
                    cat_name, f'{stats[f"{cat_name}_AP"]:.3f}',
                    f'{stats[f"{cat_name}_AP_50"]:.3f}'
                ])
            print_log('\n' + AsciiTable(rows).table, logger=logger)
