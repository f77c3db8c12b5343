# Copyright (c) crossdino contributors. All rights reserved.
"""WiderPerson metric: AP, Recall and mMR on the 'Hard' subset.

Cross-DINO (Sec. IV-A c) and IV-B b), Table II) follows WiderPerson (Zhang
et al., TMM 2019) and IterDet: results on the 'Hard' subset, i.e. all boxes
with a height over 20 px, reported as AP (IoU 0.5), Recall and the
log-average miss rate mMR over FPPI 1e-2..1e0 (Dollar et al. 2012). The
matching, curve and mMR are
:func:`crossdino.evaluation.functional.evaluate_pedestrian`.

Ground truth comes from ``ann_file`` (COCO JSON written by this repo's
converters). Per image, a box is **ignored** (absorbs detections by
intersection over detection area, never counted as a miss) when it

* is an ignored region: a category outside ``categories`` flagged
  ``ignore``/``iscrowd`` (converters write ``category_id=0, iscrowd=1,
  ignore=1``), or any annotation with ``iscrowd`` or ``ignore`` set;
* is outside the evaluated subset: height ``h`` (COCO ``bbox[3]``) with not
  ``lo < h <= hi`` for ``height_range=(lo, hi)``; Hard = ``(20, inf)``, so a
  20 px box is ignored and a 20.5 px box evaluated;
* belongs to a category not in ``person_classes`` (when given; e.g.
  IterDet evaluates WiderPerson's 'pedestrians' and ignores the rest).

Detections are not filtered by height by default (IterDet does not); set
``det_height_margin=1.25`` for Caltech's rule, which drops detections with
height outside ``[lo / 1.25, hi * 1.25]`` before matching.

Values are fractions in [0, 1] (the paper prints percent). With
``class_agnostic=True`` (default) all categories are one 'person' class and
labels are ignored; otherwise each category is evaluated on its own boxes
and the means over categories are reported (plus ``<name>_AP`` etc.).
The images present in the results are evaluated (an image run without
predictions contributes its misses and no false positives), not every image
of ``ann_file``: a subset (``test_dataloader.dataset.indices``) scores as if
the file held only those images (:mod:`.subset`).

Example config::

    val_evaluator = dict(
        type='WiderPersonMetric',
        ann_file='data/WiderPerson/annotations/val.json')
"""
import math
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.fileio import load
from mmengine.logging import MMLogger, print_log
from terminaltables import AsciiTable

from ..functional.miss_rate import evaluate_pedestrian
from .subset import evaluated_img_ids

_Boxes = Tuple[np.ndarray, np.ndarray]


@METRICS.register_module()
class WiderPersonMetric(BaseMetric):
    """AP / Recall / mMR of person detection with ignored boxes.

    Keys (with the default prefix): ``widerperson/AP``,
    ``widerperson/Recall``, ``widerperson/mMR``.

    Args:
        ann_file (str): COCO JSON ground truth with ignored regions.
        height_range (Sequence[float]): Evaluated subset ``(lo, hi]`` of box
            heights in px. Defaults to ``(20, inf)`` ('Hard').
        iou_thr (float): Matching IoU. Defaults to 0.5.
        ignore_iod_thr (float): A detection covered by an ignored box by
            at least this fraction of its area is removed. Defaults to 0.5.
        class_agnostic (bool): Merge all categories into one. Defaults to
            True.
        person_classes (Sequence[str], optional): Category names evaluated
            as objects; annotations of other categories become ignored
            boxes. None: all categories.
        det_height_margin (float, optional): If set, drop detections whose
            height is outside ``[lo / m, hi * m]``. Defaults to None.
        backend_args (dict, optional): For reading ``ann_file``.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to 'cpu'.
        prefix (str, optional): Defaults to ``'widerperson'``.
    """
    default_prefix: Optional[str] = 'widerperson'

    def __init__(self,
                 ann_file: Optional[str] = None,
                 height_range: Sequence[float] = (20.0, math.inf),
                 iou_thr: float = 0.5,
                 ignore_iod_thr: float = 0.5,
                 class_agnostic: bool = True,
                 person_classes: Optional[Sequence[str]] = None,
                 det_height_margin: Optional[float] = None,
                 backend_args: Optional[dict] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if ann_file is None:
            raise ValueError('WiderPersonMetric requires `ann_file` (COCO '
                             'JSON with the ignored regions).')
        lo, hi = (float(v) for v in height_range)
        if not lo < hi:
            raise ValueError(f'height_range must be (lo, hi) with lo < hi, '
                             f'got {tuple(height_range)}.')
        self.height_range = (lo, hi)
        self.iou_thr = iou_thr
        self.ignore_iod_thr = ignore_iod_thr
        self.class_agnostic = class_agnostic
        self.det_height_margin = det_height_margin
        self.gt = load(ann_file, backend_args=backend_args)
        self.categories = {c['id']: c['name'] for c in self.gt['categories']}
        if person_classes is not None:
            unknown = set(person_classes) - set(self.categories.values())
            if unknown:
                raise ValueError(f'person_classes {sorted(unknown)} not in '
                                 f'{ann_file} categories '
                                 f'{sorted(self.categories.values())}.')
        self.person_classes = person_classes

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Store each sample's ``img_id`` and predicted boxes as numpy.

        Args:
            data_batch (dict): Unused.
            data_samples (Sequence[dict]): With ``img_id`` and
                ``pred_instances`` (``bboxes`` (N, 4) xyxy in original image
                pixels, ``scores`` (N, ), ``labels`` (N, )).
        """
        for sample in data_samples:
            pred = sample['pred_instances']
            self.results.append(
                dict(
                    img_id=sample['img_id'],
                    bboxes=np.asarray(
                        pred['bboxes'].detach().cpu().numpy(),
                        dtype=np.float64).reshape(-1, 4),
                    scores=pred['scores'].detach().cpu().numpy().astype(
                        np.float64),
                    labels=pred['labels'].detach().cpu().numpy().astype(
                        np.int64)))

    def _label_cat_ids(self) -> List[int]:
        """Category id of each label index (dataset classes order)."""
        classes = (self.dataset_meta or {}).get('classes')
        if classes is None:
            return sorted(self.categories)
        by_name = {name: cid for cid, name in self.categories.items()}
        missing = [c for c in classes if c not in by_name]
        if missing:
            raise ValueError(f'dataset classes {missing} not in the '
                             'annotation file categories.')
        return [by_name[c] for c in classes]

    def _gt_per_image(self, cat_id: Optional[int]) -> Dict[int, _Boxes]:
        """``img_id -> (bboxes (G, 4) xyxy, ignore (G, ))`` for one class.

        ``cat_id=None``: all categories are objects (class-agnostic).
        """
        lo, hi = self.height_range
        boxes: Dict[int, list] = defaultdict(list)
        ignore: Dict[int, list] = defaultdict(list)
        for ann in self.gt['annotations']:
            cid = ann['category_id']
            in_cats = cid in self.categories
            flagged = bool(ann.get('iscrowd', 0) or ann.get('ignore', 0))
            if not in_cats and not flagged:
                continue  # unknown, unflagged category: not ground truth
            if cat_id is not None and in_cats and cid != cat_id:
                continue  # another class's object (or its crowd box)
            x, y, w, h = (float(v) for v in ann['bbox'])
            ignored = (not in_cats or flagged or not lo < h <= hi
                       or (self.person_classes is not None
                           and self.categories[cid] not in
                           self.person_classes))
            boxes[ann['image_id']].append([x, y, x + w, y + h])
            ignore[ann['image_id']].append(ignored)
        return {
            img_id: (np.asarray(boxes[img_id], dtype=np.float64),
                     np.asarray(ignore[img_id], dtype=bool))
            for img_id in boxes
        }

    def _evaluate(self, preds: Dict[int, list], cat_id: Optional[int],
                  img_ids: Sequence[int]) -> Dict[str, float]:
        """Evaluate one class (or all, ``cat_id=None``) over ``img_ids``."""
        gt = self._gt_per_image(cat_id)
        empty_gt = (np.zeros((0, 4)), np.zeros(0, dtype=bool))
        empty_det = (np.zeros((0, 4)), np.zeros(0))
        return evaluate_pedestrian(
            [preds.get(i, empty_det) for i in img_ids],
            [gt.get(i, empty_gt) for i in img_ids],
            iou_thr=self.iou_thr,
            ignore_iod_thr=self.ignore_iod_thr)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute AP, Recall and mMR from :meth:`process`'s results.

        Args:
            results (list[dict]): Per image: ``img_id``, ``bboxes``,
                ``scores``, ``labels``.

        Returns:
            dict[str, float]: ``AP``, ``Recall``, ``mMR`` (and per-class
            ``<name>_AP``/``_Recall``/``_mMR`` if not class-agnostic).

        Raises:
            ValueError: If a prediction's ``img_id`` is not in ``ann_file``.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        # Only the images that were run (gathered from all ranks).
        img_ids = evaluated_img_ids((r['img_id'] for r in results),
                                    (img['id'] for img in self.gt['images']))
        lo, hi = self.height_range
        # Labels only matter per class (names may differ when merged).
        label_cat_ids = [] if self.class_agnostic else self._label_cat_ids()
        per_cat: Dict[Optional[int], Dict[int, list]] = defaultdict(dict)
        for res in results:
            bboxes, scores, labels = res['bboxes'], res['scores'], res[
                'labels']
            if self.det_height_margin is not None:
                m = self.det_height_margin
                height = bboxes[:, 3] - bboxes[:, 1]
                keep = (height >= lo / m) & (height <= hi * m)
                bboxes, scores, labels = bboxes[keep], scores[keep], labels[
                    keep]
            if self.class_agnostic:
                per_cat[None][res['img_id']] = (bboxes, scores)
                continue
            for label in np.unique(labels):
                sel = labels == label
                per_cat[label_cat_ids[int(label)]][res['img_id']] = (
                    bboxes[sel], scores[sel])

        rows = [['class', 'gts', 'dets', 'AP', 'Recall', 'mMR']]
        out: Dict[str, float] = OrderedDict()
        if self.class_agnostic:
            stats = self._evaluate(per_cat[None], None, img_ids)
            rows.append(['person (all)'] + self._row(stats))
            out.update(AP=stats['AP'], Recall=stats['Recall'],
                       mMR=stats['mMR'])
        else:
            per_class = OrderedDict()
            for cid in label_cat_ids:
                stats = self._evaluate(per_cat.get(cid, {}), cid, img_ids)
                per_class[self.categories[cid]] = stats
                rows.append([self.categories[cid]] + self._row(stats))
            for key in ('AP', 'Recall', 'mMR'):
                valid = [s[key] for s in per_class.values() if s['num_gts']]
                out[key] = float(np.mean(valid)) if valid else -1.0
            for name, stats in per_class.items():
                for key in ('AP', 'Recall', 'mMR'):
                    out[f'{name}_{key}'] = stats[key]
        print_log(
            f'\nWiderPerson-style evaluation, box height in ({lo:g}, {hi:g}]'
            f' px, IoU {self.iou_thr:g}:\n' + AsciiTable(rows).table,
            logger=logger)
        return out

    @staticmethod
    def _row(stats: Dict[str, float]) -> list:
        """Format one table row."""
        return [
            int(stats['num_gts']),
            int(stats['num_dets']), f'{stats["AP"]:.4f}',
            f'{stats["Recall"]:.4f}', f'{stats["mMR"]:.4f}'
        ]
