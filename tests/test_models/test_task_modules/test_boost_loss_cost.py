"""BoostLossCost: mmdet's focal cost in the focal limit, Eq. 5 by hand,
and a Cross-DINO that matches with it trains."""
import math

import pytest
import torch
from mmdet.models.task_modules.assigners import FocalLossCost
from mmdet.registry import TASK_UTILS
from mmengine.structures import InstanceData

import crossdino  # noqa: F401
from crossdino.models.task_modules import BoostLossCost


def _instances(logits, pred_boxes, labels, gt_boxes):
    return (InstanceData(scores=logits, bboxes=pred_boxes),
            InstanceData(labels=labels, bboxes=gt_boxes))


def test_registered():
    cost = TASK_UTILS.build(dict(type='BoostLossCost', beta=0.1, weight=2.))
    assert isinstance(cost, BoostLossCost) and cost.beta == 0.1


def test_equals_focal_cost_for_image_sized_boxes_and_beta_1():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 4, generator=g) * 3
    full = torch.tensor([[0., 0., 64., 48.]])
    pred, gt = _instances(logits, full.repeat(7, 1), torch.tensor([2, 0, 3]),
                          full.repeat(3, 1))
    meta = dict(img_shape=(48, 64))
    got = BoostLossCost(beta=1.0, weight=2.0)(pred, gt, meta)
    ref = FocalLossCost(weight=2.0)(pred, gt, meta)
    assert got.shape == (7, 3)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


def test_matches_eq5_by_hand():
    # one query (logit 0, p = 0.5, box 8x8), one ground truth (box 16x16),
    # image 100x100: cs = 0.16, cs_hat = 0.5 * 0.08 = 0.04, beta 0.1, gamma 2
    logits = torch.zeros(1, 3)
    pred, gt = _instances(logits, torch.tensor([[10., 10., 18., 18.]]),
                          torch.tensor([1]), torch.tensor([[0., 0., 16., 16.]]))
    pos = -0.25 * (1 - 0.04**0.1)**2 * 0.16**0.1 * math.log(0.5)
    neg = -0.75 * 0.5**2 * math.log(0.5)
    got = BoostLossCost(beta=0.1, weight=1.0)(pred, gt, dict(img_shape=(100,
                                                                        100)))
    assert got.item() == pytest.approx(pos - neg, rel=1e-5)


def test_size_changes_the_preferred_query():
    """Two queries with the same score for one ground truth: the focal cost
    ties them; in the Boost cost (beta 0.1) cs_hat = p * size plays the role
    of focal's p, so the query with the smaller predicted box has the larger
    modulating factor, the higher cost, and is the less preferred."""
    logits = torch.full((2, 1), 1.0)
    pred, gt = _instances(logits,
                          torch.tensor([[0., 0., 4., 4.], [0., 0., 40., 40.]]),
                          torch.tensor([0]), torch.tensor([[0., 0., 8., 8.]]))
    meta = dict(img_shape=(100, 100))
    focal = FocalLossCost()(pred, gt, meta)
    boost = BoostLossCost(beta=0.1)(pred, gt, meta)
    assert focal[0, 0] == focal[1, 0]
    assert boost[0, 0] > boost[1, 0]


@pytest.mark.parametrize('kwargs,match', [
    (dict(beta=1.5), 'beta'), (dict(pred_cs_mode='area'), 'pred_cs_mode')])
def test_bad_configuration_is_a_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BoostLossCost(**kwargs)
