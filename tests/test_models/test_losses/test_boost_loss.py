"""Boost loss (Cross-DINO Eq. 4-5): Table IX weights, reduction to the sigmoid
focal loss, gradient signs, zero-GT images, the module interface."""
import pytest
import torch
from mmdet.models.losses import FocalLoss

from crossdino.models.losses import (BoostLoss, boost_loss, boost_size_weight,
                                     box_size)

# Table IX (gamma = 0.25, 1024 x 1024 image): printed cs_hat per object side,
# then (1 - cs_hat^beta)^gamma for beta = 1, 0.05, 0.1, 0.25.
TABLE_IX = {
    2: (0.0020, [0.9995, 0.7189, 0.8248, 0.9423]),
    8: (0.0078, [0.9980, 0.6813, 0.7874, 0.9156]),
    80: (0.0781, [0.9799, 0.5882, 0.6888, 0.8286]),
}
TABLE_IX_BETAS = [1.0, 0.05, 0.1, 0.25]
# Relative distance rows: (2x2 vs 8x8) and (8x8 vs 80x80).
TABLE_IX_RD = {(2, 8): [0.0015, 0.0552, 0.0475, 0.0292],
               (8, 80): [0.0185, 0.1583, 0.1431, 0.1050]}


def test_table_ix_cs_hat_from_boxes():
    # cs_hat of Eq. 4 for an s x s box in a 1024 x 1024 image is s / 1024.
    sides = torch.tensor([2., 8., 80.])
    boxes = torch.stack([sides.new_full((3, ), 0.5)] * 2 +
                        [sides / 1024, sides / 1024], dim=1)
    cs = box_size(boxes)
    printed = torch.tensor([TABLE_IX[s][0] for s in (2, 8, 80)])
    torch.testing.assert_close(cs.round(decimals=4), printed)


def test_box_size_gradient_is_finite_for_zero_area_boxes():
    boxes = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.5, 0.5, 0.0, 0.2],
                          [0.5, 0.5, 0.1, 0.4]], requires_grad=True)
    size = box_size(boxes)
    torch.testing.assert_close(size[2], torch.tensor(0.2))
    size.sum().backward()
    assert torch.isfinite(boxes.grad).all()
    # regular box: d sqrt(wh)/dw = h / (2 sqrt(wh)) = 0.4 / 0.4,
    # d sqrt(wh)/dh = w / (2 sqrt(wh)) = 0.1 / 0.4
    torch.testing.assert_close(boxes.grad[2, 2:], torch.tensor([1.0, 0.25]))


# cs_hat that reproduces each row to 4 decimals: the exact side / 1024 for
# 8x8 and 80x80; the 2x2 row was evidently computed from the printed 0.0020
# (the exact 2/1024 = 0.00195 gives 0.9995, 0.7195, 0.8254, 0.9427).
TABLE_IX_CS_HAT = {2: 0.0020, 8: 8 / 1024, 80: 80 / 1024}


@pytest.mark.parametrize('side', [2, 8, 80])
def test_table_ix_weights(side):
    expected = TABLE_IX[side][1]
    cs_hat = torch.tensor(TABLE_IX_CS_HAT[side], dtype=torch.float64)
    got = [boost_size_weight(cs_hat, beta, 0.25).item()
           for beta in TABLE_IX_BETAS]
    assert [round(v, 4) for v in got] == expected


def test_table_ix_relative_distance():
    for (small, large), expected in TABLE_IX_RD.items():
        for beta, rd in zip(TABLE_IX_BETAS, expected):
            w_s = boost_size_weight(
                torch.tensor(TABLE_IX_CS_HAT[small], dtype=torch.float64),
                beta, 0.25)
            w_l = boost_size_weight(
                torch.tensor(TABLE_IX_CS_HAT[large], dtype=torch.float64),
                beta, 0.25)
            assert abs(((w_s - w_l) / w_l).item() - rd) < 1.5e-4


def _random_problem(n=40, c=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, c, generator=g) * 2
    labels = torch.randint(0, c + 1, (n, ), generator=g)  # c = background
    weight = torch.rand(n, generator=g)
    return pred, labels, weight


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
def test_reduces_to_focal_loss(reduction):
    """cs = 1 for every positive (boxes spanning the image) and beta = 1:
    Eq. 5 is mmdet's sigmoid focal loss, values and gradients."""
    pred, labels, weight = _random_problem()
    full = torch.tensor([[0.5, 0.5, 1.0, 1.0]]).repeat(len(pred), 1)
    focal = FocalLoss(use_sigmoid=True, alpha=0.25, gamma=2.0,
                      reduction=reduction, loss_weight=1.5)
    boost = BoostLoss(alpha=0.25, beta=1.0, gamma=2.0, reduction=reduction,
                      loss_weight=1.5)
    p1 = pred.clone().requires_grad_()
    p2 = pred.clone().requires_grad_()
    ref = focal(p1, labels, weight, avg_factor=5.0 if reduction == 'mean'
                else None)
    out = boost(p2, labels, weight, avg_factor=5.0 if reduction == 'mean'
                else None, pred_bboxes=full, gt_bboxes=full)
    torch.testing.assert_close(out, ref)
    ref.sum().backward()
    out.sum().backward()
    torch.testing.assert_close(p2.grad, p1.grad)


def test_matches_eq5_by_hand():
    pred, labels, _ = _random_problem(n=12, c=3, seed=1)
    gt_size = torch.rand(12) * 0.3
    pred_size = torch.rand(12) * 0.3
    a, b, g = 0.25, 0.1, 2.0
    out = boost_loss(pred, labels, gt_size, pred_size, alpha=a, beta=b,
                     gamma=g, reduction='none')
    p = pred.sigmoid()
    ref = torch.zeros_like(p)
    for i in range(12):
        for c in range(3):
            if labels[i] == c:
                cs_hat = p[i, c] * pred_size[i]
                ref[i, c] = -a * (1 - cs_hat**b)**g * gt_size[i]**b * \
                    torch.log(p[i, c])
            else:
                ref[i, c] = -(1 - a) * p[i, c]**g * torch.log(1 - p[i, c])
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize('beta,ratio', [(1.0, 0.1321), (0.25, 0.9941),
                                         (0.1, 1.7124), (0.05, 2.0837)])
def test_relative_weight_of_a_small_positive(beta, ratio):
    """Loss of an 8 px positive over a 64 px one (800x1333 image, p = 0.5,
    predicted box = ground truth, gamma = 2), by hand from Eq. 5:
    ``w(s) = (1 - (p s)^beta)^gamma s^beta`` with ``s = side / sqrt(H W)``.
    At beta = 1 the small object weighs 0.13x the large one, the opposite of
    the paper's motivation; beta <= 0.25 turns it round (module docstring).
    """
    size = torch.tensor([8.0, 64.0]) / (800 * 1333) ** 0.5
    loss = boost_loss(torch.zeros(2, 1), torch.zeros(2, dtype=torch.long),
                      size, size, beta=beta, gamma=2.0,
                      pred_cs_mode='prob_size', reduction='none')
    assert (loss[0, 0] / loss[1, 0]).item() == pytest.approx(ratio, abs=1e-4)


@pytest.mark.parametrize('mode', ['prob_size', 'size', 'prob'])
def test_gradient_signs(mode):
    pred, labels, weight = _random_problem(seed=2)
    pred.requires_grad_()
    gt_size = torch.rand(len(pred)) * 0.2
    pred_size = torch.rand(len(pred)) * 0.2
    loss = boost_loss(pred, labels, gt_size, pred_size, weight=weight,
                      beta=0.1, pred_cs_mode=mode, avg_factor=3.0)
    loss.backward()
    c = pred.size(1)
    pos = torch.zeros_like(pred, dtype=torch.bool)
    rows = (labels < c).nonzero().squeeze(1)
    pos[rows, labels[rows]] = True
    assert pos.any()
    assert (pred.grad[pos] < 0).all()   # raise the GT class score
    assert (pred.grad[~pos] > 0).all()  # lower all other scores
    assert torch.isfinite(pred.grad).all()


def test_zero_gt_image_is_focal_negative_term():
    pred, _, weight = _random_problem(seed=3)
    labels = torch.full((len(pred), ), pred.size(1))  # all background
    zeros = torch.zeros(len(pred), 4)  # mmdet's targets for negatives
    out = BoostLoss(beta=0.1)(pred, labels, weight, avg_factor=1.0,
                              pred_bboxes=torch.rand(len(pred), 4),
                              gt_bboxes=zeros)
    ref = FocalLoss(use_sigmoid=True)(pred, labels, weight, avg_factor=1.0)
    torch.testing.assert_close(out, ref)
    assert out > 0


def test_degenerate_boxes_stay_finite():
    pred = torch.randn(4, 2, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 0])
    zeros = torch.zeros(4, 4)
    loss = BoostLoss(beta=0.05)(pred, labels, pred_bboxes=zeros,
                                gt_bboxes=zeros)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()


def test_pred_box_detached_by_default():
    pred = torch.randn(3, 2, requires_grad=True)
    labels = torch.tensor([0, 1, 2])
    boxes = torch.tensor([[0.5, 0.5, 0.1, 0.2]] * 3, requires_grad=True)
    gt = torch.tensor([[0.5, 0.5, 0.1, 0.1]] * 3)
    BoostLoss(beta=0.1)(pred, labels, pred_bboxes=boxes,
                        gt_bboxes=gt).backward()
    assert boxes.grad is None
    boxes2 = boxes.detach().clone().requires_grad_()
    BoostLoss(beta=0.1, detach_pred_box=False)(
        pred, labels, pred_bboxes=boxes2, gt_bboxes=gt).backward()
    assert boxes2.grad is not None and boxes2.grad.abs().sum() > 0


def test_registered_and_sigmoid():
    from mmdet.registry import MODELS

    import crossdino  # noqa: F401
    loss = MODELS.build(dict(type='BoostLoss', beta=0.1))
    assert loss.use_sigmoid and loss.needs_bboxes and loss.beta == 0.1


@pytest.mark.parametrize('kwargs,match', [
    (dict(beta=1.5), r'beta must lie in \[0, 1\], got 1.5'),
    (dict(pred_cs_mode='area'), "pred_cs_mode must be one of .*'area'"),
])
def test_bad_configuration_is_a_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BoostLoss(**kwargs)


def test_missing_boxes_is_a_value_error():
    with pytest.raises(ValueError, match='CrossDINOHead'):
        BoostLoss()(torch.zeros(2, 3), torch.tensor([0, 3]))
