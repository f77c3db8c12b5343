"""Linear-Snake Conv (HMPE Eq. 10-11) and its snake path (DSConv): shapes,
exact reduction to strip convs at zero offsets, hand-computed sampling,
cumulative offsets, the |shift_c| <= |c| * extend_scope bound, gradients."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.registry import MODELS

import crossdino  # noqa: F401
from crossdino.models.layers import (DynamicSnakeConv, LinearSnakeConv,
                                     accumulate_offsets, snake_offset_bound,
                                     snake_sample)

SIZES = [(7, 6), (8, 9), (1, 1), (2, 5)]


def _zero_offsets(m):
    """Zero every offset/slope predictor: all displacements become 0."""
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, DynamicSnakeConv):
                mod.offset_conv.weight.zero_()
                mod.offset_conv.bias.zero_()
        if getattr(m, 'linear_offset', None) is not None:
            for conv in m.linear_offset.values():
                conv.weight.zero_()
                conv.bias.zero_()


def _strip_ref(x, conv, morph):
    """Plain strip conv with the same weights, computed independently."""
    K = conv.weight.shape[-1] if morph == 'x' else conv.weight.shape[-2]
    r = K // 2
    pad = (0, r) if morph == 'x' else (r, 0)
    return F.conv2d(x, conv.weight, conv.bias, padding=pad)


@pytest.mark.parametrize('size', SIZES)
@pytest.mark.parametrize('fusion', ['offset', 'output'])
@pytest.mark.parametrize('linear_mode', ['slope', 'fixed'])
def test_output_shape(size, fusion, linear_mode):
    m = LinearSnakeConv(6, 4, kernel_size=5, fusion=fusion,
                        linear_mode=linear_mode)
    out = m(torch.randn(2, 6, *size))
    assert out.shape == (2, 4, *size)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize('morph', ['x', 'y'])
@pytest.mark.parametrize('size', SIZES)
def test_snake_conv_shape_and_sample_layout(morph, size):
    m = DynamicSnakeConv(3, 8, kernel_size=7, morph=morph)
    x = torch.randn(2, 3, *size)
    assert m(x).shape == (2, 8, *size)
    assert m.strip.conv.weight.shape == ((8, 3, 1, 7) if morph == 'x' else
                                         (8, 3, 7, 1))
    assert snake_sample(x, m.snake_shift(x), morph).shape == (2, 3, 7, *size)


@pytest.mark.parametrize('morph', ['x', 'y'])
@pytest.mark.parametrize('size', [(7, 6), (8, 9), (1, 1)])
def test_zero_offsets_equal_plain_strip_conv(morph, size):
    torch.manual_seed(0)
    m = DynamicSnakeConv(3, 5, kernel_size=9, morph=morph,
                         offset_norm_cfg=None, norm_cfg=None, act_cfg=None)
    _zero_offsets(m)
    x = torch.randn(2, 3, *size)
    assert m.snake_shift(x).abs().max() == 0
    ref = _strip_ref(x, m.strip.conv, morph)
    torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('fusion', ['offset', 'output'])
def test_lsconv_zero_offsets_equal_two_strip_convs(fusion):
    """Both axes reduce to 1xK and Kx1 convs; the 1x1 fuse mixes them."""
    torch.manual_seed(1)
    m = LinearSnakeConv(4, 6, kernel_size=5, fusion=fusion,
                        offset_norm_cfg=None, norm_cfg=None, act_cfg=None)
    _zero_offsets(m)
    x = torch.randn(2, 4, 6, 7)
    outs = []
    for morph in ('x', 'y'):
        y = _strip_ref(x, m.snake[morph].strip.conv, morph)
        if fusion == 'output':  # gate-weighted with the linear strip
            g = torch.sigmoid(m.gate[morph](x))
            y = g * y + (1 - g) * _strip_ref(
                x, m.linear_strip[morph].conv, morph)
        outs.append(y)
    ref = F.conv2d(torch.cat(outs, 1), m.fuse.weight, m.fuse.bias)
    torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)


def close(actual, expected):
    torch.testing.assert_close(actual, torch.tensor(expected), rtol=0,
                               atol=1e-5)


def test_snake_sample_hand_values():
    """Integer shift = neighbouring row/col; half shift = their mean;
    outside the map = 0."""
    x = torch.arange(12.).view(1, 1, 3, 4)  # x[i, j] = 4 i + j
    K = 3

    def at(samples, i, j):  # the K samples of pixel (i, j)
        return samples[0, 0, :, i, j]

    # morph x: point c of pixel (i, j) reads (i + s, j + c)
    exp = snake_sample(x, torch.ones(1, K, 3, 4), 'x')
    close(at(exp, 0, 1), [4., 5., 6.])  # row 1, cols 0..2
    close(at(exp, 1, 3), [10., 11., 0.])  # col 4 is outside
    close(at(exp, 2, 0), [0., 0., 0.])  # row 3 is outside
    exp = snake_sample(x, torch.full((1, K, 3, 4), 0.5), 'x')
    close(at(exp, 0, 1), [2., 3., 4.])
    # morph y: point c of pixel (i, j) reads (i + c, j + s)
    shift = torch.tensor([-1., 0., 2.]).view(1, K, 1, 1).expand(1, K, 3, 4)
    exp = snake_sample(x, shift, 'y')
    # pixel (1, 1): (0, 0) -> 0, (1, 1) -> 5, (2, 3) -> 11
    close(at(exp, 1, 1), [0., 5., 11.])


def test_accumulate_offsets_hand_values():
    steps = torch.tensor([0.5, -0.25, 0.1, 0.3]).view(1, 4, 1, 1)
    out = accumulate_offsets(steps).flatten().tolist()
    # c = -2, -1, 0, 1, 2: -side sums 0.5 then 0.5-0.25, +side 0.1, 0.4
    assert out == pytest.approx([0.25, 0.5, 0.0, 0.1, 0.4])


@pytest.mark.parametrize('scope', [1.0, 2.5])
def test_accumulated_offsets_bounded_and_bound_is_tight(scope):
    """Each step is tanh(.) in (-1, 1), so |shift_c| < |c| * scope; when all
    steps saturate at +1 the snake reaches c * scope (the paper: displacement
    stays within the K x K grid, 9 strides for K = 9)."""
    torch.manual_seed(2)
    K = 9
    m = LinearSnakeConv(3, 4, kernel_size=K, extend_scope=scope,
                        offset_norm_cfg=None)
    with torch.no_grad():  # large weights: steps near +-1
        for p in m.parameters():
            p.mul_(50)
    x = torch.randn(2, 3, 6, 5)
    bound = snake_offset_bound(K, scope).view(1, K, 1, 1)
    assert bound.flatten().tolist() == [scope * abs(c) for c in range(-4, 5)]
    for morph in ('x', 'y'):
        snake, linear, _ = m.shifts(x, morph)
        for s in (snake, linear, m.fused_shift(x, morph)):
            assert (s.abs() <= bound + 1e-5).all()
        assert snake.abs().amax() > 0.9 * 4 * scope  # saturated, not tiny
    with torch.no_grad():  # every step exactly tanh(40) = 1
        conv = m.snake['x'].offset_conv
        conv.weight.zero_()
        conv.bias.fill_(40.)
    snake = m.snake['x'].snake_shift(x)
    c = torch.arange(-4., 5.).view(1, K, 1, 1)
    expected = c.abs() * scope  # both sides move by +1 per step
    torch.testing.assert_close(snake, expected.expand_as(snake))


def test_centre_point_has_zero_offset():
    torch.manual_seed(3)
    m = LinearSnakeConv(3, 4, kernel_size=7)
    x = torch.randn(2, 3, 5, 6)
    for morph in ('x', 'y'):
        snake, linear, _ = m.shifts(x, morph)
        for s in (snake, linear, m.fused_shift(x, morph)):
            assert s.shape == (2, 7, 5, 6)
            assert s[:, 3].abs().max() == 0
        assert snake[:, 2].abs().max() > 0  # neighbours do move


@pytest.mark.parametrize('fusion', ['offset', 'output'])
def test_gradients_reach_offset_predictors(fusion):
    torch.manual_seed(4)
    m = LinearSnakeConv(4, 4, kernel_size=5, fusion=fusion)
    x = torch.randn(2, 4, 6, 7)
    m(x).pow(2).sum().backward()
    for morph in ('x', 'y'):
        for name, conv in [('snake', m.snake[morph].offset_conv),
                           ('linear', m.linear_offset[morph]),
                           ('gate', m.gate[morph])]:
            g = conv.weight.grad
            assert g is not None, (morph, name)
            assert torch.isfinite(g).all() and g.abs().sum() > 0, (morph,
                                                                  name)


def test_registered_and_arguments_checked():
    m = MODELS.build(dict(type='LinearSnakeConv', in_channels=4,
                          out_channels=8))
    assert isinstance(m, LinearSnakeConv) and m.kernel_size == 9
    assert m.extend_scope == 1.0 and m.fusion == 'offset'
    with pytest.raises(ValueError, match='kernel_size must be odd'):
        DynamicSnakeConv(4, 4, kernel_size=4)
    with pytest.raises(ValueError, match="morph must be one of"):
        DynamicSnakeConv(4, 4, morph='z')
    with pytest.raises(ValueError, match='fusion must be one of'):
        LinearSnakeConv(4, 4, fusion='sum')
    with pytest.raises(ValueError, match='linear_mode must be one of'):
        LinearSnakeConv(4, 4, linear_mode='curve')
    with pytest.raises(ValueError, match='morphs must be distinct'):
        LinearSnakeConv(4, 4, morphs=('x', 'x'))


def test_single_axis_and_fixed_linear_mode():
    """morphs=('x',) with linear_mode='fixed': the fused shift is the gated
    snake alone and the fuse conv sees one axis."""
    torch.manual_seed(5)
    m = LinearSnakeConv(3, 4, kernel_size=5, morphs=('x', ),
                        linear_mode='fixed')
    assert m.linear_offset is None and m.fuse.in_channels == 4
    x = torch.randn(1, 3, 4, 4)
    snake, linear, gate = m.shifts(x, 'x')
    assert linear.abs().max() == 0
    torch.testing.assert_close(m.fused_shift(x, 'x'), gate * snake)
    assert isinstance(m.fuse, nn.Conv2d) and m(x).shape == (1, 4, 4, 4)


@pytest.mark.parametrize('fusion', ['offset', 'output'])
@pytest.mark.parametrize('linear_mode', ['slope', 'fixed', 'none'])
def test_lsconv_macs_closed_form_matches_hook_count(fusion, linear_mode):
    """``lsconv_macs`` (used by the benchmark) against MACs counted on the
    convolutions actually run (sampling excluded)."""
    from crossdino.models.layers.linear_snake_conv import (StripConv,
                                                           lsconv_macs)
    m = LinearSnakeConv(6, 4, kernel_size=5, fusion=fusion,
                        linear_mode=linear_mode)
    total = [0]

    def conv_hook(mod, inp, out):
        total[0] += out.numel() * mod.in_channels * mod.kernel_size[
            0] * mod.kernel_size[1]

    def strip_hook(mod, inp, out):
        total[0] += out.numel() * inp[0].shape[1] * inp[0].shape[2]

    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            mod.register_forward_hook(conv_hook)
        elif isinstance(mod, StripConv):
            mod.register_forward_hook(strip_hook)
    m(torch.randn(1, 6, 7, 3))
    macs = lsconv_macs(6, 4, 7, 3, 5, 2, linear_mode, fusion)
    assert total[0] == macs['total'] - macs['sampling']
    # hand count for 'offset'/'slope': per axis offset 21*6*9*4, slope
    # 21*6*9, gate 21*6, strip 21*6*5*4; fuse 21*8*4
    if (fusion, linear_mode) == ('offset', 'slope'):
        assert total[0] == 2 * (4536 + 1134 + 126 + 2520) + 672


def test_dsconv_only_is_the_snake_path_alone():
    """linear_mode='none' (Table 2's DSconv row): no gate, no linear path.
    At zero offsets the output is the 1x1 fuse of a plain 1xK and Kx1 conv
    with the snake convs' weights (F.conv2d, not the module's code)."""
    torch.manual_seed(6)
    m = LinearSnakeConv(3, 4, kernel_size=5, linear_mode='none',
                        offset_norm_cfg=None, norm_cfg=None, act_cfg=None)
    assert m.gate is None and m.linear_offset is None
    assert m.linear_strip is None
    _zero_offsets(m)
    x = torch.randn(2, 3, 6, 5)
    outs = [_strip_ref(x, m.snake[a].strip.conv, a) for a in ('x', 'y')]
    ref = F.conv2d(torch.cat(outs, 1), m.fuse.weight, m.fuse.bias)
    torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-5)


def test_half_precision_coordinates_stay_exact():
    """bf16 has spacing 8 near 1500: the coordinates must not be built in
    the input dtype. Shift 1 on a 1x1500 map reads the next column."""
    x = (torch.arange(1500.) % 7).view(1, 1, 1, 1500)  # exact in bf16
    shift = torch.ones(1, 3, 1, 1500, dtype=torch.bfloat16)
    out = snake_sample(x.to(torch.bfloat16), shift, 'y')
    assert out.dtype == torch.bfloat16
    expected = torch.cat([x[0, 0, 0, 1:], torch.zeros(1)])  # column j + 1
    # float32 normalisation leaves ~1e-4 interpolation error; bf16
    # coordinates would be off by whole columns (errors of several units)
    torch.testing.assert_close(out[0, 0, 1, 0].float(), expected, rtol=0,
                               atol=1e-3)
