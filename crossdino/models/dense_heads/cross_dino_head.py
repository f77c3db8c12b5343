"""The Cross-DINO head: DINO's head with a box-aware classification loss.

Cross-DINO (Cao et al., IEEE TMM 2025), Sec. III-A and III-D: the Boost loss
(Eq. 5) replaces the focal classification loss on the encoder proposals and
on every decoder layer. Boost needs the predicted box of each query and the
matched ground-truth box, normalised by the resized, unpadded image size
(``img_shape``); mmdet's DETR heads already express both that way
(``bbox_preds`` are sigmoid cxcywh, targets are divided by ``img_shape``),
so they are handed to the loss as ``pred_bboxes`` / ``gt_bboxes``.

A classification loss is box-aware when it has ``needs_bboxes = True``
(:class:`~crossdino.models.losses.BoostLoss`). With any other loss the head
defers to :class:`mmdet.models.DINOHead` unchanged (FocalLoss, QFL, ...).

Bounded denoising: with ``dn_cfg.max_gts_per_image`` (a
:class:`BoundedCdnQueryGenerator`) the denoising targets are built from the
same subset of ground truths as the denoising queries.

Denoising queries: ``dn_loss_cls=None`` (default) gives them the same loss as
the matching queries. The paper applies Boost to "all decoder predictions";
DN queries are decoder predictions, and in the DINO code base the paper
builds on, the DN classification loss is the matching queries' loss
function. ``dn_loss_cls=dict(type='FocalLoss', ...)`` keeps DINO's focal loss
on them instead.
"""
from typing import Dict, List, Optional, Tuple

import torch
from mmdet.models.dense_heads import DINOHead
from mmdet.models.losses import QualityFocalLoss
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmdet.utils import InstanceList, reduce_mean
from torch import Tensor, nn

from ..layers.bounded_cdn_query_generator import select_dn_gts


def needs_bboxes(loss: nn.Module) -> bool:
    """Whether a classification loss takes ``pred_bboxes``/``gt_bboxes``."""
    return bool(getattr(loss, 'needs_bboxes', False))


@MODELS.register_module()
class CrossDINOHead(DINOHead):
    """DINO head that feeds boxes to a box-aware classification loss.

    Args:
        dn_loss_cls (dict, optional): classification loss of the denoising
            queries; None (default) uses ``loss_cls``.
        **kwargs: :class:`DINOHead` arguments.
    """

    # builds denoising targets from dn_meta['dn_gt_keep'] (bounded DN)
    reads_dn_gt_keep = True

    def __init__(self, *args, dn_loss_cls: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dn_loss_cls = None
        if dn_loss_cls is not None:
            self.dn_loss_cls = MODELS.build(dn_loss_cls)
            if self.dn_loss_cls.use_sigmoid != self.loss_cls.use_sigmoid:
                raise ValueError(
                    'CrossDINOHead: dn_loss_cls and loss_cls must agree on '
                    f'use_sigmoid, got {dn_loss_cls!r}')
            if isinstance(self.dn_loss_cls, QualityFocalLoss):
                raise ValueError('CrossDINOHead: dn_loss_cls does not support '
                                 'QualityFocalLoss')

    def loss_by_feat_single(self, cls_scores: Tensor, bbox_preds: Tensor,
                            batch_gt_instances: InstanceList,
                            batch_img_metas: List[dict]) -> Tuple[Tensor]:
        """Encoder-proposal and matching-query losses of one layer."""
        if not needs_bboxes(self.loss_cls):
            return super().loss_by_feat_single(cls_scores, bbox_preds,
                                               batch_gt_instances,
                                               batch_img_metas)
        targets = self.get_targets(
            list(cls_scores.unbind(0)), list(bbox_preds.unbind(0)),
            batch_gt_instances, batch_img_metas)
        return self._losses_from_targets(self.loss_cls, cls_scores,
                                         bbox_preds, targets, batch_img_metas)

    def get_dn_targets(self, batch_gt_instances: InstanceList,
                       batch_img_metas: List[dict], dn_meta: dict) -> tuple:
        """DINO's denoising targets, built from the ground truths the
        denoising queries were made from (``dn_meta['dn_gt_keep']`` of
        :class:`BoundedCdnQueryGenerator`; all of them without it)."""
        return super().get_dn_targets(
            select_dn_gts(batch_gt_instances, dn_meta), batch_img_metas,
            dn_meta)

    def _loss_dn_single(self, dn_cls_scores: Tensor, dn_bbox_preds: Tensor,
                        batch_gt_instances: InstanceList,
                        batch_img_metas: List[dict],
                        dn_meta: Dict[str, int]) -> Tuple[Tensor]:
        """Denoising-query losses of one layer."""
        loss_cls = self.dn_loss_cls or self.loss_cls
        if loss_cls is self.loss_cls and not needs_bboxes(loss_cls):
            return super()._loss_dn_single(dn_cls_scores, dn_bbox_preds,
                                           batch_gt_instances,
                                           batch_img_metas, dn_meta)
        targets = self.get_dn_targets(batch_gt_instances, batch_img_metas,
                                      dn_meta)
        return self._losses_from_targets(loss_cls, dn_cls_scores,
                                         dn_bbox_preds, targets,
                                         batch_img_metas)

    def _losses_from_targets(self, loss_cls: nn.Module, cls_scores: Tensor,
                             bbox_preds: Tensor, targets: tuple,
                             batch_img_metas: List[dict]) -> Tuple[Tensor]:
        """Classification, L1 and IoU losses given assigned targets.

        Same normalisation as mmdet's DETR heads: the classification loss is
        averaged over the (synced) number of positives, the box losses over
        the (synced, >= 1) number of positives.

        Args:
            loss_cls: the classification loss to apply.
            cls_scores (Tensor): (bs, nq, C) logits.
            bbox_preds (Tensor): (bs, nq, 4) normalised cxcywh.
            targets (tuple): ``get_targets``/``get_dn_targets`` output.
            batch_img_metas (list[dict]): metas with ``img_shape``.
        """
        (labels_list, label_weights_list, bbox_targets_list,
         bbox_weights_list, num_total_pos, num_total_neg) = targets
        labels = torch.cat(labels_list, 0)
        label_weights = torch.cat(label_weights_list, 0)
        bbox_targets = torch.cat(bbox_targets_list, 0)
        bbox_weights = torch.cat(bbox_weights_list, 0)
        bbox_preds = bbox_preds.reshape(-1, 4)
        cls_scores = cls_scores.reshape(-1, self.cls_out_channels)

        cls_avg_factor = num_total_pos * 1.0 + \
            num_total_neg * self.bg_cls_weight
        if self.sync_cls_avg_factor:  # a (1,) tensor, as in mmdet, but fp32:
            # a bf16 one would turn the fp32 loss into bf16 when dividing.
            # new_full is a fill kernel; mmdet's new_tensor([x]) is a blocking
            # host-to-device copy (a GPU sync) per decoder layer.
            cls_avg_factor = reduce_mean(
                cls_scores.new_full((1, ), cls_avg_factor,
                                    dtype=torch.float32)).clamp(min=1)
        else:
            cls_avg_factor = max(cls_avg_factor, 1)

        if len(cls_scores) == 0:
            loss_cls_value = cls_scores.new_zeros(1)
        elif needs_bboxes(loss_cls):
            loss_cls_value = loss_cls(
                cls_scores,
                labels,
                label_weights,
                avg_factor=cls_avg_factor,
                pred_bboxes=bbox_preds,
                gt_bboxes=bbox_targets)
        else:
            loss_cls_value = loss_cls(
                cls_scores, labels, label_weights, avg_factor=cls_avg_factor)

        num_pos = reduce_mean(
            cls_scores.new_full((1, ), num_total_pos, dtype=torch.float32))
        num_pos = num_pos.clamp(min=1)[0]
        # (w, h, w, h) of each image's img_shape over its queries, written by
        # fill kernels (no host-to-device copy)
        per_img = len(bbox_preds) // max(len(batch_img_metas), 1)
        # new_empty: every row must be written below
        assert per_img * len(batch_img_metas) == len(bbox_preds), \
            (len(bbox_preds), len(batch_img_metas))
        factors = bbox_preds.new_empty(len(bbox_preds), 2)
        for i, meta in enumerate(batch_img_metas):  # batch size: a few fills
            h, w = meta['img_shape'][:2]
            factors[i * per_img:(i + 1) * per_img, 0].fill_(w)
            factors[i * per_img:(i + 1) * per_img, 1].fill_(h)
        factors = factors.repeat(1, 2)
        bboxes = bbox_cxcywh_to_xyxy(bbox_preds) * factors
        bboxes_gt = bbox_cxcywh_to_xyxy(bbox_targets) * factors
        loss_iou = self.loss_iou(
            bboxes, bboxes_gt, bbox_weights, avg_factor=num_pos)
        loss_bbox = self.loss_bbox(
            bbox_preds, bbox_targets, bbox_weights, avg_factor=num_pos)
        return loss_cls_value, loss_bbox, loss_iou
