"""Linear-Snake Convolution (LSConv) and Dynamic Snake Convolution (DSConv).

Papers:

* LSConv: Zeng et al., "HMPE: HeatMap Embedding for Efficient Transformer-Based
  Small Object Detection" (arXiv 2504.13469), Sec. 3.3, Eq. 10-11, Fig. 4-5.
  No code was released; this follows the text.
* DSConv: Qi et al., "Dynamic Snake Convolution based on Topological Geometric
  Constraints for Tubular Structure Segmentation" (ICCV 2023), which LSConv
  builds on. Written from the paper and the project's notes on it
  (../shared/notes/enact_vicrop_hmpe_acs.md, 3.4); no code is copied.

Snake path (``DynamicSnakeConv``, one axis). For ``morph='x'`` the kernel is a
horizontal strip of K = 2r + 1 points ``c = -r..r`` around every output pixel
(i, j). Point c samples the input at::

    (x, y) = (j + c, i + extend_scope * sum_{k=1..|c|} dy_{sign(c) k})

Eq. 10 (Eq. 11 is the same with x and y swapped for ``morph='y'``). The
steps ``dy`` come from ``tanh(norm(conv3x3(input)))``, one channel per
non-centre point, so each step lies in (-1, 1). They are ACCUMULATED outward
from the centre (``torch.cumsum``), which keeps the kernel a continuous
"snake"; the centre point itself never moves.

Bound on the accumulated offsets (the paper: "this cumulative offset
mechanism restricts displacement within 9 standard convolution strides" for
the 9x9 grid, ``c in {0..4}``): since every step is in (-1, 1),
``|shift_c| < |c| * extend_scope <= (K // 2) * extend_scope``. With the default
``extend_scope=1`` every kernel point stays inside the K x K grid centred on
the output pixel, and neighbouring points are less than ``extend_scope``
pixels apart across the strip (the continuity of the snake).
``snake_offset_bound`` returns this bound per point.

Sampling is bilinear (``F.grid_sample``, zero padding, ``align_corners=False``
so 1-pixel-wide maps work) into K samples per pixel, which a ``1 x K``
(``K x 1`` for y) convolution collapses back to (H, W) (DSConv's stride-K
conv on a K-times expanded map, run as the equal 1x1 GEMM, see
``StripConv``); with zero offsets this is exactly a plain strip convolution
with padding K // 2.

Linear path. The paper's "Constrained Linear Convolution" branch "enforces
linear-semantic consistency via fixed receptive fields" while its offsets are
"biased toward straight features". ``linear_mode`` chooses:

* ``'slope'`` (default): a straight deformable strip through the centre. One
  tanh-bounded step t per pixel is shared by all points, ``shift_c = c * t *
  extend_scope`` (the cumulative sum of equal steps), i.e. a strip tilted by a
  learned angle. Same bound as the snake.
* ``'fixed'``: zero offsets, the axis-aligned strip (a plain 1 x K conv).

Fusion ("weighted fusion of snake-path offsets and linear-path offsets"),
``fusion``:

* ``'offset'`` (default, the paper's wording): a per-pixel gate
  ``g = sigmoid(conv1x1(input))`` mixes the two displacement fields,
  ``shift = g * shift_snake + (1 - g) * shift_linear``; one sampling and one
  strip conv per axis. A convex mix keeps the bound above.
* ``'output'``: two full branches (own strip weights, norm and activation),
  ``out = g * snake(x) + (1 - g) * linear(x)``; about twice the cost.

Both axes (Eq. 10 for x, Eq. 11 for y) run in parallel; their outputs are
concatenated and a 1x1 convolution (no norm, no activation) maps them to
``out_channels``, so the block can be used as a residual branch.

Departures / readings of ambiguous text (alternatives are options where
the text allows several):

* The ``+1`` / ``-1`` terms of Eq. 10-11 (and ``x_i + c - 1`` on the negative
  side, which would put both halves on the same side) are read as the one-step
  advance between neighbouring kernel points, ``X_{i+c} = X_{i+c-1} + (1,
  dy)``, as in DSConv; no constant translation is applied and the negative
  half goes to ``j - c``.
* "3x1 strip kernel ... for a 3x3 kernel within a 9x9 grid" is read as the
  strip conv being the kernel; ``kernel_size`` K (default 9, the 9x9 grid
  of Fig. 5) is the number of points along the strip.
* The paper names no normalisation; the offset norm (GroupNorm with one
  group per kernel point, as DSConv normalises each point's offsets) and the
  output GroupNorm + ReLU of each strip conv follow DSConv.
* "Constrained by continuity regularization" is realised by the bounded,
  accumulated steps alone; no extra regularisation loss is added (the paper
  gives none).
* DSConv starts the accumulation from a detached copy of the offsets and
  writes in-place sums into it; here the cumulative sum is one differentiable
  ``torch.cumsum``, so every step receives gradient.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

MORPHS = ('x', 'y')
LINEAR_MODES = ('slope', 'fixed', 'none')
FUSIONS = ('offset', 'output')


def _build_norm(cfg: Optional[dict], channels: int) -> Optional[nn.Module]:
    """mmcv norm layer; GN may give ``channels_per_group`` instead of
    ``num_groups`` (falls back to one group when it does not divide)."""
    if cfg is None:
        return None
    cfg = dict(cfg)
    if cfg.get('type') == 'GN' and 'num_groups' not in cfg:
        per = cfg.pop('channels_per_group', 4)
        cfg['num_groups'] = channels // per if channels % per == 0 else 1
    return build_norm_layer(cfg, channels)[1]


def accumulate_offsets(steps: Tensor) -> Tensor:
    """Cumulative snake displacement from per-point steps.

    Args:
        steps (Tensor): ``(B, K - 1, H, W)``; channels ``0..r-1`` are the steps
            towards the points ``c = -1..-r`` (centre outward), channels
            ``r..2r-1`` towards ``c = +1..+r``.

    Returns:
        Tensor: ``(B, K, H, W)`` displacement of the points ``c = -r..r``;
        ``out[:, r] == 0`` (the centre) and ``out[:, r + c] = sum_{k<=|c|}``
        of that side's steps.
    """
    r = steps.size(1) // 2
    neg = torch.cumsum(steps[:, :r], dim=1).flip(1)
    pos = torch.cumsum(steps[:, r:], dim=1)
    return torch.cat([neg, steps.new_zeros(neg[:, :1].shape), pos], dim=1)


def snake_offset_bound(kernel_size: int, extend_scope: float) -> Tensor:
    """Bound on ``|shift|`` of each point ``c = -r..r``: ``|c| * scope``."""
    r = kernel_size // 2
    return torch.arange(-r, r + 1).abs().float() * extend_scope


def snake_sample(x: Tensor, shift: Tensor, morph: str) -> Tensor:
    """Bilinear samples of ``x`` along a displaced strip around every pixel.

    Args:
        x (Tensor): ``(B, C, H, W)``.
        shift (Tensor): ``(B, K, H, W)`` displacement (pixels) across the
            strip of the points ``c = -r..r``; along the strip point c sits at
            offset c.
        morph (str): ``'x'`` (strip along x, shift in y) or ``'y'``.

    Returns:
        Tensor: ``(B, C, K, H, W)`` in ``x.dtype``; ``out[:, :, k, i, j]`` is
        point ``c = k - r`` of pixel (i, j). Samples outside the map are zero.
        Coordinates and interpolation run in float32 (or float64) even for
        half-precision inputs.
    """
    B, C, H, W = x.shape
    K = shift.size(1)
    r = K // 2
    # coordinates (and the sampling) in at least float32: half precision
    # cannot address pixels of a wide map (spacing 1 above 1024)
    dtype = torch.promote_types(shift.dtype, torch.float32)
    device = shift.device
    shift = shift.to(dtype)
    c = torch.arange(-r, r + 1, dtype=dtype, device=device).view(1, K, 1, 1)
    rows = torch.arange(H, dtype=dtype, device=device).view(1, 1, H, 1)
    cols = torch.arange(W, dtype=dtype, device=device).view(1, 1, 1, W)
    if morph == 'x':
        px = (cols + c).expand(B, K, H, W)
        py = rows + shift
    else:
        px = cols + shift
        py = (rows + c).expand(B, K, H, W)
    # pixel centre p -> normalised (2p + 1) / n - 1 (align_corners=False)
    grid = torch.stack([(2 * px + 1) / W - 1, (2 * py + 1) / H - 1], dim=-1)
    out = F.grid_sample(
        x.to(dtype), grid.view(B, K * H, W, 2), mode='bilinear',
        padding_mode='zeros', align_corners=False)
    return out.view(B, C, K, H, W).to(x.dtype)


class StripConv(nn.Module):
    """The ``1 x K`` (x) / ``K x 1`` (y) strip conv over sampled points, then
    norm and activation: ``(B, C, K, H, W) -> (B, out, H, W)``.

    DSConv lays the samples out as a K-times wider (taller) map and collapses
    it with a stride-K strip conv. The weight here has that conv's shape, but
    the samples are kept point-major, so the same sum
    ``out = sum_{c, k} w[o, c, k] * s[c, k]`` runs as one 1x1 conv (a GEMM)
    on the ``(B, C*K, H, W)`` view; identical result, about 2x faster on CPU
    than the strided conv.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 morph: str, norm_cfg: Optional[dict],
                 act_cfg: Optional[dict]) -> None:
        super().__init__()
        k = (1, kernel_size) if morph == 'x' else (kernel_size, 1)
        self.conv = nn.Conv2d(
            in_channels, out_channels, k, stride=k, bias=norm_cfg is None)
        self.norm = _build_norm(norm_cfg, out_channels)
        self.act = build_activation_layer(act_cfg) if act_cfg else None

    def forward(self, samples: Tensor) -> Tensor:
        B, C, K, H, W = samples.shape
        weight = self.conv.weight.reshape(self.conv.out_channels, C * K, 1, 1)
        out = F.conv2d(samples.reshape(B, C * K, H, W), weight,
                       self.conv.bias)
        if self.norm is not None:
            out = self.norm(out)
        if self.act is not None:
            out = self.act(out)
        return out


class DynamicSnakeConv(nn.Module):
    """Dynamic snake convolution along one axis (DSConv; LSConv snake path).

    Args:
        in_channels (int): Input channels C.
        out_channels (int): Output channels.
        kernel_size (int): Points K on the strip, odd, >= 3. Default 9.
        morph (str): ``'x'`` (strip along x, offsets in y, Eq. 10) or ``'y'``
            (Eq. 11).
        extend_scope (float): Scale of each step; the accumulated offset of
            point c is bounded by ``|c| * extend_scope``. Default 1.0.
        offset_norm_cfg (dict, optional): Norm between the offset conv and
            tanh. Default: GroupNorm, one group per kernel point (DSConv).
        norm_cfg (dict, optional): Norm after the strip conv. Default: GN with
            4 channels per group (DSConv).
        act_cfg (dict, optional): Activation after it. Default ReLU.

    Shapes: ``forward(x: (B, C, H, W)) -> (B, out_channels, H, W)``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 9,
                 morph: str = 'x',
                 extend_scope: float = 1.0,
                 offset_norm_cfg: Optional[dict] = dict(
                     type='GN', channels_per_group=1),
                 norm_cfg: Optional[dict] = dict(
                     type='GN', channels_per_group=4),
                 act_cfg: Optional[dict] = dict(type='ReLU')) -> None:
        super().__init__()
        if morph not in MORPHS:
            raise ValueError(f'morph must be one of {MORPHS}, got {morph!r}')
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(
                f'kernel_size must be odd and >= 3, got {kernel_size}')
        self.kernel_size = kernel_size
        self.morph = morph
        self.extend_scope = extend_scope
        self.offset_conv = nn.Conv2d(
            in_channels, kernel_size - 1, 3, padding=1)
        self.offset_norm = _build_norm(offset_norm_cfg, kernel_size - 1)
        self.strip = StripConv(in_channels, out_channels, kernel_size, morph,
                               norm_cfg, act_cfg)

    def offset_steps(self, x: Tensor) -> Tensor:
        """Per-point steps in (-1, 1): ``(B, K - 1, H, W)``."""
        steps = self.offset_conv(x)
        if self.offset_norm is not None:
            steps = self.offset_norm(steps)
        return torch.tanh(steps)

    def snake_shift(self, x: Tensor) -> Tensor:
        """Accumulated displacement ``(B, K, H, W)`` (centre 0), scaled."""
        return accumulate_offsets(self.offset_steps(x)) * self.extend_scope

    def forward(self, x: Tensor, shift: Optional[Tensor] = None) -> Tensor:
        """Snake conv of ``x``; ``shift`` overrides the predicted one."""
        if shift is None:
            shift = self.snake_shift(x)
        return self.strip(snake_sample(x, shift, self.morph))


@MODELS.register_module()
class LinearSnakeConv(BaseModule):
    """Linear-Snake Convolution (HMPE Sec. 3.3, Eq. 10-11); see module doc.

    Args:
        in_channels (int): Input channels C.
        out_channels (int): Output channels.
        kernel_size (int): Points per strip (odd). Default 9 (9x9 grid).
        extend_scope (float): Step scale; accumulated offsets are bounded by
            ``|c| * extend_scope``. Default 1.0.
        morphs (Sequence[str]): Axes, ``('x', 'y')`` = Eq. 10 and Eq. 11.
        linear_mode (str): ``'slope'`` (tilted straight strip, default),
            ``'fixed'`` (axis-aligned strip) or ``'none'`` (no linear path:
            the snake path alone, i.e. DSConv, HMPE Table 2's "DSconv"
            row; ``fusion`` is then unused).
        fusion (str): ``'offset'`` (gate mixes the displacement fields,
            default) or ``'output'`` (gate mixes two branch outputs).
        offset_norm_cfg, norm_cfg, act_cfg: as in :class:`DynamicSnakeConv`.
        init_cfg (dict, optional): mmengine init config.

    Shapes: ``forward(x: (B, C, H, W)) -> (B, out_channels, H, W)``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 9,
                 extend_scope: float = 1.0,
                 morphs: Sequence[str] = ('x', 'y'),
                 linear_mode: str = 'slope',
                 fusion: str = 'offset',
                 offset_norm_cfg: Optional[dict] = dict(
                     type='GN', channels_per_group=1),
                 norm_cfg: Optional[dict] = dict(
                     type='GN', channels_per_group=4),
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if linear_mode not in LINEAR_MODES:
            raise ValueError(f'linear_mode must be one of {LINEAR_MODES}, '
                             f'got {linear_mode!r}')
        if fusion not in FUSIONS:
            raise ValueError(
                f'fusion must be one of {FUSIONS}, got {fusion!r}')
        morphs = tuple(morphs)
        if not morphs or any(m not in MORPHS for m in morphs) or len(
                set(morphs)) != len(morphs):
            raise ValueError(f'morphs must be distinct values of {MORPHS}, '
                             f'got {morphs!r}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.extend_scope = extend_scope
        self.morphs = morphs
        self.linear_mode = linear_mode
        self.fusion = fusion
        self.snake = nn.ModuleDict({
            m: DynamicSnakeConv(in_channels, out_channels, kernel_size, m,
                                extend_scope, offset_norm_cfg, norm_cfg,
                                act_cfg)
            for m in morphs
        })
        # per-pixel tilt of the straight strip (one tanh-bounded step)
        self.linear_offset = nn.ModuleDict({
            m: nn.Conv2d(in_channels, 1, 3, padding=1)
            for m in morphs
        }) if linear_mode == 'slope' else None
        with_linear = linear_mode != 'none'
        # per-pixel weight of the snake path against the linear path
        self.gate = nn.ModuleDict(
            {m: nn.Conv2d(in_channels, 1, 1)
             for m in morphs}) if with_linear else None
        self.linear_strip = nn.ModuleDict({
            m: StripConv(in_channels, out_channels, kernel_size, m, norm_cfg,
                         act_cfg)
            for m in morphs
        }) if with_linear and fusion == 'output' else None
        self.fuse = nn.Conv2d(len(morphs) * out_channels, out_channels, 1)

    def linear_shift(self, x: Tensor, morph: str) -> Tensor:
        """Straight-strip displacement ``(B, K, H, W)``: ``c * t * scope``."""
        B, _, H, W = x.shape
        r = self.kernel_size // 2
        if self.linear_offset is None:
            return x.new_zeros(B, self.kernel_size, H, W)
        c = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
        t = torch.tanh(self.linear_offset[morph](x))  # (B, 1, H, W)
        return t * c.view(1, -1, 1, 1) * self.extend_scope

    def shifts(self, x: Tensor, morph: str):
        """``(snake, linear, gate)``: two ``(B, K, H, W)`` displacement fields
        and the ``(B, 1, H, W)`` snake weight in (0, 1)."""
        snake = self.snake[morph].snake_shift(x)
        linear = self.linear_shift(x, morph)
        gate = torch.sigmoid(self.gate[morph](x))
        return snake, linear, gate

    def fused_shift(self, x: Tensor, morph: str) -> Tensor:
        """Displacement used by ``fusion='offset'``: ``g s + (1 - g) l``."""
        snake, linear, gate = self.shifts(x, morph)
        return gate * snake + (1 - gate) * linear

    def forward(self, x: Tensor) -> Tensor:
        outs = []
        for m in self.morphs:  # the two axes, not pixels
            if self.gate is None:  # DSConv: the snake path alone
                outs.append(self.snake[m](x))
            elif self.fusion == 'offset':
                outs.append(self.snake[m](x, self.fused_shift(x, m)))
            else:
                snake, linear, gate = self.shifts(x, m)
                y_s = self.snake[m](x, snake)
                y_l = self.linear_strip[m](snake_sample(x, linear, m))
                outs.append(gate * y_s + (1 - gate) * y_l)
        return self.fuse(torch.cat(outs, dim=1))


def lsconv_macs(in_channels: int, out_channels: int, height: int, width: int,
                kernel_size: int = 9, num_morphs: int = 2,
                linear_mode: str = 'slope', fusion: str = 'offset') -> dict:
    """Multiply-accumulates of one :class:`LinearSnakeConv` forward (batch 1),
    by part; bilinear sampling counts 4 MACs per sampled value."""
    hw, K, C = height * width, kernel_size, in_channels
    with_linear = linear_mode != 'none'
    paths = 2 if with_linear and fusion == 'output' else 1
    per_axis = dict(
        offset_conv=hw * C * 9 * (K - 1),
        linear_offset=hw * C * 9 if linear_mode == 'slope' else 0,
        gate=hw * C if with_linear else 0,
        sampling=paths * 4 * hw * K * C,
        strip_conv=paths * hw * C * K * out_channels)
    out = {k: v * num_morphs for k, v in per_axis.items()}
    out['fuse'] = hw * num_morphs * out_channels * out_channels
    out['total'] = sum(out.values())
    return out


__all__ = [
    'DynamicSnakeConv', 'LinearSnakeConv', 'StripConv', 'accumulate_offsets',
    'snake_offset_bound', 'snake_sample', 'lsconv_macs', 'MORPHS',
    'LINEAR_MODES', 'FUSIONS'
]
