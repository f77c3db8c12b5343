"""HMPE layers: the mask filter (Eq. 4, 6-7) against hand-made heatmaps,
heatmap targets on hand-made boxes, the heatmap loss, and the
gradient-weighted heatmap (Eq. 1-3) against finite differences."""
import math

import pytest
import torch
from mmdet.models.layers import SinePositionalEncoding
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from crossdino.models.layers import (HeatmapHead, HeatmapPositionalEncoding,
                                     gradient_weighted_heatmap,
                                     heatmap_targets)
from crossdino.models.layers.heatmap_head import _diag_derivatives

PE = dict(num_feats=8, normalize=True, temperature=20)


def sine(mask, input=None):
    return SinePositionalEncoding(**PE)(mask, input)


def test_no_heatmap_is_mmdet_sine():
    pe = HeatmapPositionalEncoding(**PE)
    mask = torch.zeros(2, 3, 5, dtype=torch.bool)
    mask[1, :, 3:] = True
    assert torch.equal(pe(mask), sine(mask))
    x = torch.rand(2, 4, 3, 5)
    assert torch.equal(pe(None, input=x), sine(None, x))


def test_tau_edges_hard_mask():
    pe = HeatmapPositionalEncoding(**PE, tau=0.5, heat_norm=None)
    heat = torch.tensor([[0.5, 0.5001, 0.2], [0.0, 1.0, 0.4999]])[None, None]
    x = torch.rand(1, 4, 2, 3)
    out = pe(None, input=x, heatmap=heat)
    ref = sine(None, x)
    hot = torch.tensor([[False, True, False], [False, True, False]])
    assert torch.equal(out[0][:, hot], ref[0][:, hot])
    assert torch.equal(out[0][:, ~hot], torch.zeros_like(ref[0][:, ~hot]))
    assert ref[0][:, ~hot].abs().sum() > 0  # the sine was not zero there


def test_all_cold_all_hot():
    pe = HeatmapPositionalEncoding(**PE, tau=0.3, heat_norm=None)
    x = torch.rand(2, 4, 4, 6)
    cold = pe(None, input=x, heatmap=torch.full((2, 1, 4, 6), 0.3))
    assert torch.equal(cold, torch.zeros_like(cold))
    hot = pe(None, input=x, heatmap=torch.full((2, 1, 4, 6), 0.31))
    assert torch.equal(hot, sine(None, x))
    # (H_class, H_bbox) pairs: class max 0.9, box 0.1, lambda 0.5 -> 0.5 hot
    h_cls = torch.zeros(2, 3, 4, 6)
    h_cls[:, 1] = 0.9
    pair = pe(None, input=x, heatmap=(h_cls, torch.full((2, 1, 4, 6), .1)))
    assert torch.equal(pair, sine(None, x))


def test_padded_pixels_always_zero():
    pe = HeatmapPositionalEncoding(**PE, tau=0.3, heat_norm=None)
    mask = torch.zeros(2, 4, 6, dtype=torch.bool)
    mask[1, 3:, :] = True
    mask[1, :, 4:] = True
    out = pe(mask, heatmap=torch.ones(2, 1, 4, 6))
    ref = sine(mask)
    assert torch.equal(out[:, :, ~mask[1]][1], ref[:, :, ~mask[1]][1])
    assert torch.equal(out[0], ref[0])
    assert out[1][:, mask[1]].abs().sum() == 0
    assert ref[1][:, mask[1]].abs().sum() > 0


def test_mix_lambda_minmax_and_resize():
    pe = HeatmapPositionalEncoding(**PE, mix_lambda=0.25, heat_norm=None)
    h_cls = torch.tensor([[[0.2, 0.8]], [[0.6, 0.4]]])[None]  # (1, 2, 1, 2)
    h_box = torch.tensor([[[1.0, 0.0]]])[None]
    # class max = [0.6, 0.8]; 0.25 * [0.6, 0.8] + 0.75 * [1, 0]
    torch.testing.assert_close(pe.mix(h_cls, h_box),
                               torch.tensor([[[[0.9, 0.2]]]]))
    pe.heat_norm = 'minmax'
    mask = torch.tensor([[[False, False, True]]])
    h = torch.tensor([[[[0.2, 0.6, 5.0]]]])  # the padded 5.0 is ignored
    out = pe.mix(h, h, mask)
    torch.testing.assert_close(out, torch.tensor([[[[0.0, 1.0, 0.0]]]]))
    # a half-size heatmap is upsampled to the encoding's size
    pe.heat_norm, pe.tau = None, 0.5
    small = torch.tensor([[[[0.0, 1.0]]]]).expand(1, 1, 2, 2)
    out = pe(None, input=torch.rand(1, 4, 4, 4), heatmap=small)
    ref = sine(None, torch.rand(1, 4, 4, 4))
    assert torch.equal(out[..., 2:], ref[..., 2:])
    assert out[..., :2].abs().sum() == 0


def test_soft_gate_and_learnable_lambda():
    pe = HeatmapPositionalEncoding(
        **PE, tau=0.4, soft=True, soft_temperature=0.1, heat_norm=None,
        mix_lambda=0.7, learnable_lambda=True)
    g = pe.gate(torch.tensor([0.4, 0.5, 0.3]).view(1, 1, 1, 3))
    torch.testing.assert_close(
        g.flatten(), torch.tensor([0.5, 1 / (1 + math.exp(-1)),
                                   1 / (1 + math.exp(1))]))
    torch.testing.assert_close(pe.lam, torch.tensor(0.7))
    heat = pe.mix(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))
    heat.sum().backward()
    assert pe.lambda_logit.grad.abs() > 0
    with pytest.raises(ValueError, match='mix_lambda must be in'):
        HeatmapPositionalEncoding(**PE, mix_lambda=1.5)


def test_heatmap_targets_hand_made_box():
    boxes = torch.tensor([[8., 8., 24., 40.], [40., 0., 44., 2.]])
    labels = torch.tensor([2, 2])
    bidx = torch.tensor([0, 1])
    img_hw = torch.tensor([[40., 64.], [64., 64.]])
    cls_t, box_t, valid = heatmap_targets(
        boxes, labels, bidx, img_hw, (64, 64), (16, 16), 3)
    assert cls_t.shape == (2, 3, 16, 16) and box_t.shape == (2, 1, 16, 16)
    # centre (16, 24) -> cell (row 6, col 4); sigma_x = max(.09*4, .5) = .5,
    # sigma_y = max(.09*8, .5) = .72 (in cells of stride 4)
    assert cls_t[0, 2, 6, 4] == 1
    torch.testing.assert_close(cls_t[0, 2, 6, 5], torch.tensor(math.exp(-2)))
    torch.testing.assert_close(cls_t[0, 2, 7, 4],
                               torch.tensor(math.exp(-1 / (2 * .72**2))))
    assert cls_t[0, :2].sum() == 0 and cls_t[1, :2].sum() == 0
    assert (cls_t[0] == 1).sum() == 1
    # box interior: cell centres (j + .5) * 4 in [8, 24] x [8, 40]
    expect = torch.zeros(16, 16)
    expect[2:10, 2:6] = 1
    assert torch.equal(box_t[0, 0], expect)
    # a box thinner than a cell still marks its centre cell
    assert box_t[1, 0, 0, 10] == 1 and box_t[1].sum() == 1
    assert valid[0, 0, :10].all() and not valid[0, 0, 10:].any()
    assert valid[1].all()


def test_heatmap_targets_no_boxes():
    cls_t, box_t, valid = heatmap_targets(
        torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
        torch.zeros(0, dtype=torch.long), torch.tensor([[8., 8.]]), (8, 8),
        (2, 2), 4)
    assert cls_t.shape == (1, 4, 2, 2) and cls_t.sum() == 0
    assert box_t.sum() == 0 and valid.all()


def _head_and_sample(img_shape):
    """A 3-class heatmap head and a 32x32 batch input holding one image of
    ``img_shape`` with one object at (4, 4, 12, 12)."""
    torch.manual_seed(0)
    head = HeatmapHead(in_channels=8, feat_channels=8, num_classes=3)
    head.init_weights()
    s = DetDataSample(metainfo=dict(img_shape=img_shape,
                                    batch_input_shape=(32, 32)))
    s.gt_instances = InstanceData(bboxes=torch.tensor([[4., 4., 12., 12.]]),
                                  labels=torch.tensor([1]))
    return head, s


def test_heatmap_head_loss_ignores_padding():
    head, s = _head_and_sample((16, 32))
    feats = [torch.rand(1, 8, 8, 8), torch.rand(1, 8, 4, 4)]
    h_cls, h_box = head(feats)
    assert h_cls[0].shape == (1, 3, 8, 8) and h_box[1].shape == (1, 1, 4, 4)
    losses = head.loss(h_cls, h_box, [s])
    assert set(losses) == {'loss_heatmap_cls', 'loss_heatmap_bbox'}
    # changing predictions on padded rows (>= 16 px) changes nothing
    h_cls2 = [c.clone() for c in h_cls]
    h_cls2[0][..., 4:, :] = 0.99
    torch.testing.assert_close(
        head.loss(h_cls2, h_box, [s])['loss_heatmap_cls'],
        losses['loss_heatmap_cls'])
    h_cls2[0][..., 0, 0] = 0.99  # an unpadded background cell: worse
    assert head.loss(h_cls2, h_box, [s])['loss_heatmap_cls'] > \
        losses['loss_heatmap_cls']


def test_heatmap_head_loss_ignores_ignored_regions():
    """VisDrone's ignored regions (``ignored_instances``) get no heatmap
    loss: predictions inside them change nothing, outside they do."""
    head, s = _head_and_sample((32, 32))
    s.ignored_instances = InstanceData(
        bboxes=torch.tensor([[16., 16., 32., 32.]]),
        labels=torch.tensor([-1]))
    feats = [torch.rand(1, 8, 8, 8)]
    h_cls, h_box = head(feats)
    ref = head.loss(h_cls, h_box, [s])
    hot = [c.clone() for c in h_cls]
    hot[0][..., 4:, 4:] = 0.99  # cells 4-7 = 16-32 px: the ignored region
    got = head.loss(hot, h_box, [s])
    torch.testing.assert_close(got['loss_heatmap_cls'],
                               ref['loss_heatmap_cls'])
    hot[0][..., 0, 7] = 0.99  # background outside it: worse
    assert head.loss(hot, h_box, [s])['loss_heatmap_cls'] > \
        ref['loss_heatmap_cls']


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_heatmap_losses_finite_under_autocast(dtype):
    """Issue 16: with a confident background logit (9) the fp16 sigmoid was
    1.0 after the 1 - 1e-4 clamp (it rounds to 1 in fp16) and the focal loss
    inf. The head's sigmoid and loss run in fp32: finite, and equal to the
    fp32 loss up to the autocast convolutions' rounding."""
    head, s = _head_and_sample((32, 32))
    with torch.no_grad():
        head.cls_out.bias.fill_(9.)
        head.bbox_out.bias.fill_(9.)
    feats = [torch.rand(1, 8, 8, 8), torch.rand(1, 8, 4, 4)]
    ref = head.loss(*head(feats), [s])
    try:
        with torch.autocast('cpu', dtype=dtype):
            h_cls, h_box = head(feats)
            got = head.loss(h_cls, h_box, [s])
    except RuntimeError as e:  # an op without a CPU kernel for this dtype
        pytest.skip(f'CPU autocast {dtype}: {e}')
    assert h_cls[0].dtype == torch.float32
    for k in ref:
        assert torch.isfinite(got[k]), k
        torch.testing.assert_close(got[k], ref[k], rtol=0.02, atol=0)


def _tiny_score_fn(seed=0):
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(2, 2, 3, 3, generator=g, dtype=torch.float64)
    w2 = torch.randn(2, generator=g, dtype=torch.float64)

    def fn(a):  # (K=2, H, W) -> scalar, smooth with non-zero d2 and d3
        z = torch.nn.functional.conv2d(a[None], w1, padding=1)[0]
        return (w2.view(2, 1, 1) * torch.tanh(z)**2).sum() + (a**3).sum()

    return fn


def test_gradient_heatmap_matches_finite_differences():
    fn = _tiny_score_fn()
    a = torch.randn(2, 3, 3, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(1))
    d1, d2, d3 = _diag_derivatives(fn, a, chunk=7)

    def grad_at(x):
        x = x.clone().requires_grad_(True)
        return torch.autograd.grad(fn(x), x)[0]

    h = 1e-4
    fd2, fd3 = torch.zeros_like(a), torch.zeros_like(a)
    g0 = grad_at(a)
    for i in range(a.numel()):  # test-only loop over the 18 elements
        e = torch.zeros(a.numel(), dtype=a.dtype)
        e[i] = h
        e = e.view_as(a)
        gp, gm = grad_at(a + e), grad_at(a - e)
        fd2.view(-1)[i] = ((gp - gm) / (2 * h)).view(-1)[i]
        fd3.view(-1)[i] = ((gp - 2 * g0 + gm) / h**2).view(-1)[i]
    torch.testing.assert_close(d1, g0)
    torch.testing.assert_close(d2, fd2, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(d3, fd3, rtol=1e-4, atol=1e-5)
    # Eq. 1-3 from the finite-difference derivatives
    beta = ((fd2 + fd3) * g0.clamp(min=0)).sum((1, 2))
    ref = (beta.view(2, 1, 1) * a).sum(0).clamp(min=0)
    out = gradient_weighted_heatmap(fn, a[None], mode='exact')
    torch.testing.assert_close(out[0], ref, rtol=1e-4, atol=1e-4)


def test_gradient_heatmap_exp_mode_is_exact_for_exp_of_relu_score():
    g = torch.Generator().manual_seed(2)
    w = torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64)
    v = torch.randn(3, generator=g, dtype=torch.float64)

    def score(a):  # piecewise linear S
        z = torch.nn.functional.conv2d(a[None], w, padding=1)[0].relu()
        return 0.1 * (v.view(3, 1, 1) * z).sum()

    a = torch.randn(2, 2, 3, 3, generator=g, dtype=torch.float64)
    exact = gradient_weighted_heatmap(lambda x: score(x).exp(), a, 'exact')
    approx = gradient_weighted_heatmap(score, a, 'exp')
    assert exact.shape == (2, 3, 3) and exact.abs().sum() > 0
    torch.testing.assert_close(approx, exact)
    with pytest.raises(ValueError, match="mode must be 'exact' or 'exp'"):
        gradient_weighted_heatmap(score, a, 'hessian')


def test_heatmap_targets_in_chunks_equal_all_at_once(monkeypatch):
    """Many boxes are rendered a chunk at a time (bounded temporaries): the
    targets equal those built with every box at once."""
    import crossdino.models.layers.heatmap_head as hh
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 2, generator=g) * 200
    boxes = torch.cat([xy, xy + 2 + torch.rand(300, 2, generator=g) * 60], 1)
    labels = torch.randint(0, 4, (300, ), generator=g)
    bidx = torch.randint(0, 2, (300, ), generator=g)
    img_hw = torch.tensor([[256., 256.], [200., 240.]])
    ref = heatmap_targets(boxes, labels, bidx, img_hw, (256, 256), (32, 32),
                          4)
    monkeypatch.setattr(hh, '_TARGET_BUDGET', 32 * 32 * 7)  # 7 boxes a time
    got = heatmap_targets(boxes, labels, bidx, img_hw, (256, 256), (32, 32),
                          4)
    for a, b in zip(ref, got):
        assert torch.equal(a, b)
