"""A Hungarian matching cost consistent with the Boost loss.

mmdet's DETR heads match queries to ground truths with ``FocalLossCost``
(the focal loss's positive minus negative term at the ground truth's class).
Cross-DINO (Cao et al., IEEE TMM 2025) trains with the Boost loss (Eq. 5) but
says nothing about the matcher, so the paper configs keep DINO's focal cost.
:class:`BoostLossCost` is the opt-in alternative: the same positive-minus-
negative form with Eq. 5's positive term, which depends on the sizes of the
query's predicted box and of the ground truth, so the cost prefers the
pairings that the loss itself will reward.
"""
from typing import Optional

from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh
from mmengine.structures import InstanceData
from torch import Tensor

from ..losses.boost_loss import (_check_pred_cs_mode, boost_positive_term,
                                 box_size, focal_negative_term)


def _xyxy_size(bboxes: Tensor, img_h: int, img_w: int) -> Tensor:
    """The loss's :func:`box_size` of (n, 4) absolute xyxy boxes -> (n,)."""
    factor = bboxes.new_tensor([img_w, img_h, img_w, img_h])
    return box_size(bbox_xyxy_to_cxcywh(bboxes) / factor)


@TASK_UTILS.register_module()
class BoostLossCost(BaseMatchCost):
    """Classification cost of Eq. 5 for ``HungarianAssigner``.

    ``cost[q, g] = pos(q, g) - neg(q, g)`` at the class of ground truth g,
    with ``pos`` Eq. 5's positive term (cs from g's box, cs_hat from q's
    predicted box and probability) and ``neg`` the focal negative term,
    times ``weight``. With every box spanning the image and beta = 1 it
    equals mmdet's ``FocalLossCost`` (tested).

    Args:
        alpha, beta, gamma (float): as in :class:`BoostLoss`; use the loss's
            values.
        pred_cs_mode (str): as in :class:`BoostLoss`.
        weight (float): cost weight. Defaults to 2.0 (DINO's class cost).
    """

    def __init__(self,
                 alpha: float = 0.25,
                 beta: float = 1.0,
                 gamma: float = 2.0,
                 pred_cs_mode: str = 'prob_size',
                 weight: float = 2.0) -> None:
        super().__init__(weight=weight)
        _check_pred_cs_mode(pred_cs_mode)
        if not 0.0 <= beta <= 1.0:
            raise ValueError(
                f'BoostLossCost: beta must lie in [0, 1], got {beta}')
        self.alpha, self.beta, self.gamma = alpha, beta, gamma
        self.pred_cs_mode = pred_cs_mode

    def __call__(self,
                 pred_instances: InstanceData,
                 gt_instances: InstanceData,
                 img_meta: Optional[dict] = None,
                 **kwargs) -> Tensor:
        """
        Args:
            pred_instances (InstanceData): ``scores`` (num_queries, C)
                logits and ``bboxes`` (num_queries, 4) absolute xyxy.
            gt_instances (InstanceData): ``labels`` (num_gt,) and ``bboxes``
                (num_gt, 4) absolute xyxy.
            img_meta (dict): with ``img_shape`` (H, W), the unpadded size
                the boxes are normalised by (as in the loss).

        Returns:
            Tensor: (num_queries, num_gt) fp32 cost matrix.
        """
        if img_meta is None or 'img_shape' not in img_meta:
            raise ValueError('BoostLossCost needs img_meta with img_shape')
        img_h, img_w = img_meta['img_shape'][:2]
        # fp32, as the loss: close costs must not tie by bf16 rounding
        logits = pred_instances.scores.float()[:, gt_instances.labels]
        pred_size = _xyxy_size(pred_instances.bboxes.float(), img_h, img_w)
        gt_size = _xyxy_size(gt_instances.bboxes.float(), img_h, img_w)
        pos = boost_positive_term(logits, pred_size[:, None], gt_size[None],
                                  self.alpha, self.beta, self.gamma,
                                  self.pred_cs_mode)
        neg = focal_negative_term(logits, self.alpha, self.gamma)
        return (pos - neg) * self.weight
