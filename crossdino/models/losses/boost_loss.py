"""Boost loss with the Category-Size (CS) soft label.

Cross-DINO: Cross the Deep MLP and Transformer for Small Object Detection
(Cao et al., IEEE TMM 2025), Sec. III-D, Eq. 4-5; appendix Tables IX-XI.

Eq. 4, the CS label of the ground truth matched to a query::

    cs_i = sqrt(h_i / H * w_i / W) * y_i

Eq. 5, per query i and class c (p = sigmoid(logit), y one-hot)::

    L = -1/N sum_i { alpha (1 - cs_hat_i^beta)^gamma cs_i^beta log(p_i)
                     + (1 - alpha) p_i^gamma (1 - y_i) log(1 - p_i) }

The size term acts on positives only (the class element of the matched
ground truth); every other element keeps the focal negative term.

Which positives weigh more. Eq. 5 multiplies a positive's log-likelihood by
``w(s) = (1 - cs_hat^beta)^gamma * cs^beta``: the modulating factor favours
small objects, the ``cs^beta`` factor favours large ones, and beta decides
which wins. Loss of an 8 px positive over a 64 px one (800x1333 image,
p = 0.5, predicted box = ground truth, gamma = 2; tested):

    ======  =====  =====  =====  =====  =====
    beta    1      0.5    0.25   0.1    0.05
    ratio   0.13   0.46   0.99   1.71   2.08
    ======  =====  =====  =====  =====  =====

So at beta = 1 (the paper's COCO setting and this class's default) Eq. 5
weights a positive by its size, the opposite of the paper's motivation; the
turn is at beta ~ 0.25, and the paper's small-object values (0.1 for
VisDrone and SODA-D, 0.05 for AI-TOD) weigh an 8 px object 1.7-2.1x a 64 px
one.

Choices where the paper is open (each is a config key):

* ``pred_cs_mode`` -- what cs_hat is. The paper builds cs_hat "in the same way"
  as cs from the predictions, so the default ``'prob_size'`` applies Eq. 4 to
  the prediction with the category indicator y replaced by the predicted
  probability p: ``cs_hat = p * sqrt(w_hat * h_hat)``. It is the only reading
  under which Eq. 5 reduces to the sigmoid focal loss when every box spans
  the image (cs = 1) and beta = 1, and it keeps focal loss's hard-example
  gradient through p. ``'size'`` uses the predicted box alone
  (``sqrt(w_hat * h_hat)``, the quantity tabulated in Table IX);
  ``'prob'`` uses p alone (a focal loss with the beta exponent).
* ``detach_pred_box`` -- the predicted box enters cs_hat detached by default,
  so the classification loss never pushes box sizes (the box losses own
  them).
* H x W is the resized, unpadded image (``img_shape``): the DETR heads
  normalise predicted and target boxes by it, so ``sqrt(w * h)`` of their
  normalised cxcywh boxes is exactly ``sqrt(h/H * w/W)``.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.losses.utils import weight_reduce_loss
from mmdet.registry import MODELS
from torch import Tensor

PRED_CS_MODES = ('prob_size', 'size', 'prob')
_EPS = 1e-6


def boost_size_weight(cs_hat: Tensor, beta: float, gamma: float) -> Tensor:
    """The modulating factor ``(1 - cs_hat^beta)^gamma`` of Eq. 5.

    Table IX of the paper tabulates it for gamma = 0.25.

    Args:
        cs_hat (Tensor): predicted CS values in [0, 1], any shape.
        beta (float): the scaling exponent beta in [0, 1].
        gamma (float): the focusing exponent gamma.

    Returns:
        Tensor: same shape as ``cs_hat``.
    """
    cs_hat = cs_hat.clamp(min=_EPS, max=1.0)
    return (1 - cs_hat.pow(beta)).clamp(min=0).pow(gamma)


def _check_pred_cs_mode(pred_cs_mode: str) -> None:
    if pred_cs_mode not in PRED_CS_MODES:
        raise ValueError(f'BoostLoss: pred_cs_mode must be one of '
                         f'{PRED_CS_MODES}, got {pred_cs_mode!r}')


def box_size(bboxes: Tensor) -> Tensor:
    """``sqrt(w * h)`` of normalised (cx, cy, w, h) boxes, shape (..., 4) ->
    (...). With boxes normalised by the image size this is the size factor
    ``sqrt(h/H * w/W)`` of Eq. 4.

    The area is clamped to ``_EPS**2`` before the root: the root's gradient
    is infinite at 0, so a zero-area predicted box (``detach_pred_box=
    False``) would otherwise turn the whole backward pass into NaN. Sizes
    below ``_EPS`` are clamped by the weight anyway (:func:`boost_size_weight`).
    """
    wh = bboxes[..., 2:4].clamp(min=0)
    return (wh[..., 0] * wh[..., 1]).clamp(min=_EPS**2).sqrt()


def boost_positive_term(logits: Tensor, pred_size: Tensor, gt_size: Tensor,
                        alpha: float, beta: float, gamma: float,
                        pred_cs_mode: str = 'prob_size') -> Tensor:
    """The positive term of Eq. 5 as a loss (>= 0), element-wise:
    ``-alpha (1 - cs_hat^beta)^gamma cs^beta log(p)``.

    ``logits``, ``pred_size`` (size factor of the predicted box) and
    ``gt_size`` (of the matched ground truth) broadcast together: (N, C) with
    (N, 1) and (N, 1) in the loss, (num_queries, num_gt) with
    (num_queries, 1) and (1, num_gt) in :class:`BoostLossCost`.
    """
    prob = logits.sigmoid()
    if pred_cs_mode == 'prob_size':
        cs_hat = prob * pred_size
    elif pred_cs_mode == 'size':
        cs_hat = pred_size.expand_as(prob)
    else:
        cs_hat = prob
    cs_beta = gt_size.clamp(min=_EPS, max=1.0).pow(beta)
    return -alpha * boost_size_weight(cs_hat, beta, gamma) * cs_beta \
        * F.logsigmoid(logits)


def focal_negative_term(logits: Tensor, alpha: float,
                        gamma: float) -> Tensor:
    """The negative term of Eq. 5 (focal loss's), element-wise:
    ``-(1 - alpha) p^gamma log(1 - p)``."""
    return -(1 - alpha) * logits.sigmoid().pow(gamma) * F.logsigmoid(-logits)


def boost_loss(pred: Tensor,
               labels: Tensor,
               gt_size: Tensor,
               pred_size: Tensor,
               weight: Optional[Tensor] = None,
               alpha: float = 0.25,
               beta: float = 1.0,
               gamma: float = 2.0,
               pred_cs_mode: str = 'prob_size',
               reduction: str = 'mean',
               avg_factor: Optional[float] = None) -> Tensor:
    """Boost loss, Eq. 5, functional form.

    Args:
        pred (Tensor): classification logits, shape (N, C).
        labels (Tensor): long class indices, shape (N,); ``C`` (any value
            outside [0, C)) marks a negative (background) query.
        gt_size (Tensor): size factor ``sqrt(h/H * w/W)`` of the ground truth
            matched to each query, shape (N,); read only for positives. The CS
            label of Eq. 4 is ``gt_size * one_hot(labels)``.
        pred_size (Tensor): size factor ``sqrt(h_hat/H * w_hat/W)`` of each
            query's predicted box, shape (N,); read only for positives.
        weight (Tensor, optional): per-query (N,) or per-element (N, C)
            weights (mmdet's ``label_weights``).
        alpha, beta, gamma (float): the hyper-parameters of Eq. 5.
        pred_cs_mode (str): how cs_hat is formed, one of ``PRED_CS_MODES``
            (see the module docstring). Defaults to ``'prob_size'``.
        reduction (str): 'none', 'mean' or 'sum'.
        avg_factor (float, optional): the N of Eq. 5 (mmdet's number of
            positives); the plain mean over elements when None.

    Returns:
        Tensor: the loss, shape (N, C) for ``reduction='none'``, else scalar.
    """
    _check_pred_cs_mode(pred_cs_mode)
    num_classes = pred.size(-1)
    # (N, C) one-hot y; rows of negatives are all zero. A comparison, not
    # F.one_hot, which reads the labels' range back to the host.
    classes = torch.arange(num_classes, device=pred.device)
    y = (labels.long()[:, None] == classes).to(pred.dtype)
    pos_term = boost_positive_term(pred, pred_size[:, None], gt_size[:, None],
                                   alpha, beta, gamma, pred_cs_mode)
    loss = y * pos_term + (1 - y) * focal_negative_term(pred, alpha, gamma)

    if weight is not None and weight.shape != loss.shape:
        weight = weight.reshape(loss.size(0), -1)
    return weight_reduce_loss(loss, weight, reduction, avg_factor)


@MODELS.register_module()
class BoostLoss(nn.Module):
    """Boost loss (Eq. 5) as an mmdet classification loss.

    Drop-in for ``FocalLoss(use_sigmoid=True)`` in DETR heads that pass box
    sizes: the head calls ``loss(cls_scores, labels, label_weights,
    avg_factor=..., pred_bboxes=..., gt_bboxes=...)`` with boxes in
    normalised (cx, cy, w, h). ``needs_bboxes = True`` is how a head
    (:class:`CrossDINOHead`) recognises it.

    Args:
        alpha (float): positive/negative balance. Defaults to 0.25.
        beta (float): size scaling exponent in [0, 1]. Defaults to 1.0
            (paper default; 0.1 for VisDrone and SODA-D, 0.05 for AI-TOD).
            Above ~0.25 larger positives weigh more (module docstring).
        gamma (float): focusing exponent. Defaults to 2.0.
        pred_cs_mode (str): 'prob_size' (default), 'size' or 'prob'.
        detach_pred_box (bool): detach the predicted box inside cs_hat.
            Defaults to True.
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        loss_weight (float): Defaults to 1.0.
    """

    use_sigmoid = True
    needs_bboxes = True

    def __init__(self,
                 alpha: float = 0.25,
                 beta: float = 1.0,
                 gamma: float = 2.0,
                 pred_cs_mode: str = 'prob_size',
                 detach_pred_box: bool = True,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        _check_pred_cs_mode(pred_cs_mode)
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f'BoostLoss: beta must lie in [0, 1], got {beta}')
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.pred_cs_mode = pred_cs_mode
        self.detach_pred_box = detach_pred_box
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                pred_bboxes: Optional[Tensor] = None,
                gt_bboxes: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            pred (Tensor): logits (N, C).
            target (Tensor): labels (N,), ``C`` = background.
            weight (Tensor, optional): (N,) or (N, C) weights.
            avg_factor (float, optional): normaliser N of Eq. 5.
            reduction_override (str, optional): overrides ``reduction``.
            pred_bboxes (Tensor): predicted boxes (N, 4), normalised cxcywh.
            gt_bboxes (Tensor): matched ground-truth boxes (N, 4), normalised
                cxcywh (anything for negatives, e.g. mmdet's zeros).
        """
        if pred_bboxes is None or gt_bboxes is None:
            raise ValueError('BoostLoss needs pred_bboxes and gt_bboxes: use '
                             'it in a CrossDINOHead (type=\'CrossDINOHead\')')
        reduction = reduction_override or self.reduction
        # fp32 under autocast: cs^beta, (1 - cs_hat^beta)^gamma and the log
        # terms lose most of their digits in bf16 (O(N C) work).
        pred = pred.float()
        pred_bboxes = pred_bboxes.reshape(-1, 4).float()
        if self.detach_pred_box:
            pred_bboxes = pred_bboxes.detach()
        loss = boost_loss(
            pred,
            target,
            gt_size=box_size(gt_bboxes.reshape(-1, 4).float()),
            pred_size=box_size(pred_bboxes),
            weight=weight,
            alpha=self.alpha,
            beta=self.beta,
            gamma=self.gamma,
            pred_cs_mode=self.pred_cs_mode,
            reduction=reduction,
            avg_factor=avg_factor)
        return self.loss_weight * loss
