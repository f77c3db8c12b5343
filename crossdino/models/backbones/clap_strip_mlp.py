"""CLAP-Strip-MLP: Strip-MLP as a detection backbone for inputs of any size.

Papers:
- Strip-MLP: Efficient Token Interaction for Vision MLP (Cao et al., ICCV 2023),
  ImageNet weights released with https://github.com/Med-Process/Strip_MLP
  (variants T* / T / S / B, 224 input).
- Cross-DINO: Cross the Deep MLP and Transformer for Small Object Detection
  (Cao et al., IEEE TMM 2025), Sec. III-B and the appendix "Methodology of
  CLAP": Cropping with Adaptive overLaPping, which runs the size-tied strip
  MLPs on tiles of their pretraining grid (see
  :mod:`crossdino.models.layers.clap` for the tiling rule and why it departs
  from Eq. 6-9 as printed).

Layout (stage widths C, 2C, 4C, 8C; token grids 56/28/14/7 at 224 input):

- ``stem``: 4x4 stride-4 conv, no norm.
- ``stages[i].downsample``: 2x2 stride-2 conv (stages 1-3), no norm.
- ``stages[i].blocks``: :class:`StripMLPBlock` (token mixing + channel mixing,
  each residual with drop path).
- cross-stage shortcuts: ``shortcut_8to16`` (grouped 2x2 conv on the stride-8
  stage input, added to the stride-16 stage input), ``shortcut_8to32``
  (applied to the output of ``shortcut_8to16``, added to the stride-32 stage
  input) and ``shortcut_16to32`` (on the stride-16 stage input, added to the
  stride-32 stage input).
- ``norm``: BatchNorm on the last stage's output (the classifier's final norm).

Only the cascade group strip mixing (CGSMM) of each block has weights tied to
the token grid; everything else (convs, BN, LayerNorm, GRN, the local strip
branch and its pooling) runs on the whole map. With ``clap=True`` (default)
CGSMM runs on tiles of its stage's grid; at exactly that size it is the
classifier's computation.

Checkpoints: the official ImageNet state dicts (keys ``patch_embed``,
``blocks{1-4}.*``, ``merging{1-3}``, ``conv_s*``, ``norm``, ``head``) load
unchanged: :meth:`CLAPStripMLP._load_from_state_dict` renames them with
:func:`convert_strip_mlp_official` (the classifier ``head`` is dropped with a
log line), and :meth:`CLAPStripMLP.init_weights` loads a ``Pretrained``
checkpoint strictly: any missing or unexpected backbone key is an error.
"""
import re
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader
from timm.layers import DropPath, GlobalResponseNormMlp, Mlp, trunc_normal_
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet.registry import MODELS

from ..layers.clap import CLAP_MODES, clap_merge, clap_partition

# Official variants (Strip_MLP configs/*.yaml): stem width and blocks per stage.
ARCH_SETTINGS = {
    'tiny_light': dict(embed_dims=80, depths=(2, 2, 6, 2)),  # T*
    'tiny': dict(embed_dims=80, depths=(2, 2, 12, 2)),  # T
    'small': dict(embed_dims=96, depths=(2, 2, 18, 2)),  # S
    'base': dict(embed_dims=112, depths=(2, 2, 18, 2)),  # B
}
ARCH_ALIASES = {'t*': 'tiny_light', 't': 'tiny', 's': 'small', 'b': 'base'}


def official_strip_groups(channels: int) -> int:
    """Channel groups of the strip MLPs in the official code: 2 when the block
    width is a multiple of 80 (T*, T), else 4 (S, B)."""
    return 2 if channels % 80 == 0 else 4


class CascadeStripMixing(nn.Module):
    """Cascade group strip mixing (CGSMM) on ``dim`` channels, tied to a
    ``window`` x ``window`` token grid.

    Channels are split into ``groups`` groups of ``dim // groups``; the strip
    weights act per in-group channel and are shared by the groups. Row step:
    add a relative-position bias, mix the ``window`` tokens of each row (a
    full window x window matrix per channel, with a 3-tap kernel over the
    neighbouring rows), fuse with the input by a 1x1 conv, BN, GELU, add a
    second bias; column step: the same along columns. The result is fused
    with the input again by a 1x1 conv.

    With ``clap=True`` the part between the two fusions runs on CLAP tiles
    (:func:`clap_partition` / :func:`clap_merge`); without it the input must
    be exactly ``window`` x ``window``.
    """

    def __init__(self,
                 dim: int,
                 window: int,
                 groups: int,
                 norm_cfg: dict,
                 clap: bool = True,
                 clap_mode: str = 'even'):
        super().__init__()
        if dim % groups:
            raise ValueError(
                f'strip mixing width {dim} is not divisible by {groups} groups')
        if clap_mode not in CLAP_MODES:
            raise ValueError(
                f'clap_mode must be one of {CLAP_MODES}, got {clap_mode!r}')
        self.dim, self.window, self.groups = dim, window, groups
        self.group_dims = dim // groups
        self.clap, self.clap_mode = clap, clap_mode
        tokens = self.group_dims * window
        # (2 * window + 1, dim) tables indexed by the clipped offset col - row.
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * window + 1, dim))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * window + 1, dim))
        trunc_normal_(self.rel_pos_h, std=.02)
        trunc_normal_(self.rel_pos_w, std=.02)
        offsets = torch.arange(window)[None, :] - torch.arange(window)[:, None]
        self.register_buffer('rel_pos_index', offsets + window, persistent=False)
        self.row_mix = nn.Conv2d(
            tokens, tokens, (1, 3), padding=(0, 1), groups=self.group_dims)
        self.row_fuse = nn.Conv2d(2 * dim, dim, 1, bias=False)
        self.row_norm = build_norm_layer(norm_cfg, dim)[1]
        self.col_mix = nn.Conv2d(
            tokens, tokens, (1, 3), padding=(0, 1), groups=self.group_dims)
        self.out_fuse = nn.Conv2d(2 * dim, dim, 1, bias=False)
        self.act = nn.GELU()

    def _rel_pos(self, table: Tensor) -> Tensor:
        return table[self.rel_pos_index].permute(2, 0, 1)  # (dim, u, u)

    def mix_tiles(self, x: Tensor) -> Tensor:
        """Row and column strip mixing of (B, dim, u, u) tiles."""
        b, c, u, _ = x.shape
        g, cg = self.groups, self.group_dims
        # Row step: channel c = gi * cg + ci; conv channels are ci * u + col,
        # conv "height" is the group index, conv "width" is the row index.
        t = (x + self._rel_pos(self.rel_pos_h)).reshape(b, g, cg, u, u)
        t = t.permute(0, 2, 4, 1, 3).reshape(b, cg * u, g, u)
        t = self.row_mix(t)
        t = t.reshape(b, cg, u, g, u).permute(0, 3, 1, 4, 2).reshape(b, c, u, u)
        t = self.row_fuse(torch.cat([t, x], dim=1))
        t = self.act(self.row_norm(t)) + self._rel_pos(self.rel_pos_w)
        # Column step: conv channels are ci * u + row, conv "width" the column.
        t = t.reshape(b, g, cg * u, u).transpose(1, 2)
        t = self.col_mix(t)
        return t.transpose(1, 2).reshape(b, c, u, u)

    def forward(self, x: Tensor) -> Tensor:
        if self.clap:
            tiles, layout = clap_partition(x, self.window, self.clap_mode)
            mixed = clap_merge(self.mix_tiles(tiles), layout)
        else:
            if x.shape[-2:] != (self.window, self.window):
                raise ValueError(
                    f'without CLAP the strip MLP needs a '
                    f'{self.window}x{self.window} map, '
                    f'got {tuple(x.shape[-2:])}')
            mixed = self.mix_tiles(x)
        return self.out_fuse(torch.cat([x, mixed], dim=1))


class LocalStripMixing(nn.Module):
    """Local strip mixing (LSMM): depthwise 7x3 and 3x7 strips plus identity,
    blended per channel by softmax weights predicted from their global mean."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv_row = nn.Conv2d(
            dim, dim, (3, 7), padding=(1, 3), groups=dim, bias=False)
        self.conv_col = nn.Conv2d(
            dim, dim, (7, 3), padding=(3, 1), groups=dim, bias=False)
        self.reweight = Mlp(dim, dim // 2, 3 * dim, use_conv=True)

    def forward(self, x: Tensor) -> Tensor:
        n, c = x.shape[:2]
        row, col = self.conv_row(x), self.conv_col(x)
        # global mean; not adaptive_avg_pool2d, which has no deterministic
        # CUDA backward
        att = self.reweight((row + col + x).mean(dim=(2, 3), keepdim=True))
        att = att.reshape(n, c, 3).softmax(dim=-1)[..., None, None]
        return col * att[:, :, 0] + row * att[:, :, 1] + x * att[:, :, 2]


class TokenMixing(nn.Module):
    """BN-GELU-depthwise 3x3, 1x1 conv-BN-GELU, then CGSMM on the first half of
    the channels and LSMM on the second half, fused by a 1x1 conv."""

    def __init__(self,
                 dim: int,
                 window: int,
                 groups: int,
                 norm_cfg: dict,
                 clap: bool = True,
                 clap_mode: str = 'even'):
        super().__init__()
        half = dim // 2
        self.pre_norm = build_norm_layer(norm_cfg, dim)[1]
        self.act = nn.GELU()
        self.dwconv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=False)
        self.proj_in = nn.Sequential(
            nn.Conv2d(dim, dim, 1),
            build_norm_layer(norm_cfg, dim)[1], nn.GELU())
        self.strip = CascadeStripMixing(half, window, groups, norm_cfg, clap, clap_mode)
        self.local = LocalStripMixing(half)
        self.fuse = nn.Conv2d(dim, dim, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj_in(self.dwconv(self.act(self.pre_norm(x))))
        strip, local = x.chunk(2, dim=1)
        return self.fuse(torch.cat([self.strip(strip), self.local(local)], dim=1))


class ChannelMixing(nn.Module):
    """Depthwise 7x7, LayerNorm, and a GRN MLP (ConvNeXt-V2 style, no residual)."""

    def __init__(self, dim: int, mlp_ratio: int = 3):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim, bias=False)
        self.norm = nn.LayerNorm(dim)
        self.mlp = GlobalResponseNormMlp(dim, mlp_ratio * dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm(self.dwconv(x).permute(0, 2, 3, 1))
        return self.mlp(x).permute(0, 3, 1, 2)


class StripMLPBlock(nn.Module):
    """``x + DropPath(TokenMixing(x))``, then ``x + DropPath(ChannelMixing(x))``."""

    def __init__(self,
                 dim: int,
                 window: int,
                 groups: int,
                 mlp_ratio: int = 3,
                 drop_path: float = 0.,
                 norm_cfg: dict = dict(type='BN'),
                 clap: bool = True,
                 clap_mode: str = 'even'):
        super().__init__()
        self.token_mixing = TokenMixing(dim, window, groups, norm_cfg, clap, clap_mode)
        self.channel_mixing = ChannelMixing(dim, mlp_ratio)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.token_mixing(x))
        return x + self.drop_path(self.channel_mixing(x))


class StripMLPStage(nn.Module):
    """Optional 2x2 stride-2 merging conv, then ``depth`` blocks."""

    def __init__(self,
                 in_dims: int,
                 dims: int,
                 depth: int,
                 window: int,
                 groups: int,
                 downsample: bool,
                 drop_paths: Sequence[float],
                 mlp_ratio: int = 3,
                 norm_cfg: dict = dict(type='BN'),
                 clap: bool = True,
                 clap_mode: str = 'even',
                 with_cp: bool = False):
        super().__init__()
        self.downsample = nn.Conv2d(
            in_dims, dims, 2, 2, bias=False) if downsample else nn.Identity()
        self.blocks = nn.ModuleList([
            StripMLPBlock(dims, window, groups, mlp_ratio, drop_paths[i], norm_cfg,
                          clap, clap_mode) for i in range(depth)
        ])
        self.with_cp = with_cp

    def forward_blocks(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return x


# Official key -> our key. Block-level names, relative to a block.
_BLOCK_KEY_MAP = (
    ('token_mixing.dwsc.conv_merge.BN.', 'token_mixing.pre_norm.'),
    ('token_mixing.dwsc.conv_merge.Conv.', 'token_mixing.dwconv.'),
    ('token_mixing.smlp_block.mlp.', 'token_mixing.proj_in.'),
    ('token_mixing.smlp_block.BN.', 'token_mixing.strip.row_norm.'),
    ('token_mixing.smlp_block.proj_h.', 'token_mixing.strip.row_mix.'),
    ('token_mixing.smlp_block.proj_w.', 'token_mixing.strip.col_mix.'),
    # MLP-DINO's detection code spells the column projection 'proh_w'.
    ('token_mixing.smlp_block.proh_w.', 'token_mixing.strip.col_mix.'),
    ('token_mixing.smlp_block.fuse_h.', 'token_mixing.strip.row_fuse.'),
    ('token_mixing.smlp_block.fuse_w.', 'token_mixing.strip.out_fuse.'),
    ('token_mixing.smlp_block.relate_pos_h.embeddings_table',
     'token_mixing.strip.rel_pos_h'),
    ('token_mixing.smlp_block.relate_pos_w.embeddings_table',
     'token_mixing.strip.rel_pos_w'),
    ('token_mixing.smlp_block.fc_h.', 'token_mixing.local.conv_row.'),
    ('token_mixing.smlp_block.fc_w.', 'token_mixing.local.conv_col.'),
    ('token_mixing.smlp_block.reweight.', 'token_mixing.local.reweight.'),
    ('token_mixing.smlp_block.fuse.', 'token_mixing.fuse.'),
    ('channel_mixing.conv_77.', 'channel_mixing.dwconv.'),
    ('channel_mixing.layer_norm.', 'channel_mixing.norm.'),
    ('channel_mixing.fc1.', 'channel_mixing.mlp.fc1.'),
    ('channel_mixing.fc2.', 'channel_mixing.mlp.fc2.'),
    ('channel_mixing.grn.gamma', 'channel_mixing.mlp.grn.weight'),
    ('channel_mixing.grn.beta', 'channel_mixing.mlp.grn.bias'),
)
_TOP_KEY_MAP = {
    'patch_embed.': 'stem.',
    'merging1.': 'stages.1.downsample.',
    'merging2.': 'stages.2.downsample.',
    'merging3.': 'stages.3.downsample.',
    'conv_s1_28.': 'shortcut_8to16.',
    'conv_s1_14.': 'shortcut_8to32.',
    'conv_s2_14.': 'shortcut_16to32.',
    'norm.': 'norm.',
}
_OFFICIAL_BLOCK = re.compile(r'^blocks([1-4])\.(\d+)\.(.+)$')


def is_strip_mlp_official(keys) -> bool:
    """Whether state-dict keys (without prefix) are in the official layout."""
    return any(k == 'patch_embed.weight' or _OFFICIAL_BLOCK.match(k) for k in keys)


def convert_strip_mlp_official(
        state_dict: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], list]:
    """Rename an official Strip-MLP (or MLP-DINO backbone) state dict to
    :class:`CLAPStripMLP`'s keys.

    Returns ``(converted, dropped)``: ``dropped`` lists the classifier keys
    (``head.*``) that have no counterpart. Keys that match no rule are kept
    unchanged so that a strict load reports them.
    """
    out, dropped = {}, []
    for key, value in state_dict.items():
        new = None
        m = _OFFICIAL_BLOCK.match(key)
        if m:
            stage, idx, rest = int(m.group(1)) - 1, m.group(2), m.group(3)
            for old, ours in _BLOCK_KEY_MAP:
                if rest.startswith(old):
                    new = f'stages.{stage}.blocks.{idx}.{ours}{rest[len(old):]}'
                    break
            if rest.startswith('channel_mixing.grn.'):
                value = value.reshape(-1)  # (1, 1, 1, C) -> (C,)
        elif key.startswith('head.'):
            dropped.append(key)
            continue
        else:
            for old, ours in _TOP_KEY_MAP.items():
                if key.startswith(old):
                    new = ours + key[len(old):]
                    break
        out[new if new is not None else key] = value
    return out, dropped


@MODELS.register_module()
class CLAPStripMLP(BaseModule):
    """Strip-MLP backbone with CLAP (Cross-DINO's CLAP-Strip-MLP).

    CLAP tiling rule (details in :mod:`crossdino.models.layers.clap`): the
    strip MLPs of stage i are tied to a ``u = pretrain_img_size / 4 / 2**i``
    token grid. Per axis of length ``L`` (zero-padded at the bottom/right to
    ``P = max(L, u)``, cropped again afterwards) the default ``'even'`` rule
    uses the fewest tiles that cover it, ``n = ceil(P / u)``, with starts
    ``round(i * (P - u) / (n - 1))``: the surplus ``n * u - P`` becomes the
    overlap, spread evenly over the seams, and overlapping outputs are
    averaged (every position lies in one or two tiles per axis). At ``L = u``
    this is one tile, i.e. the classifier's own computation. It departs from
    the paper's Eq. 6-9 as printed, whose ``n = floor(L / u + 0.5)`` leaves
    part of the map out whenever ``L / u`` has a fractional part below 0.5
    (``L = 1.2u`` gives one tile) and whose overlap divides by ``n - 1.5``;
    the appendix text asks for full coverage with the surplus taken up by
    overlap, which is what ``'even'`` does. ``clap_mode='mlp_dino'`` is the
    rule of the authors' released detection code (MLP-DINO), kept for parity.

    Args:
        arch (str | dict): ``'tiny_light'`` (T*), ``'tiny'`` (T), ``'small'``
            (S), ``'base'`` (B) (also ``'t*'``, ``'t'``, ``'s'``, ``'b'``), or
            ``dict(embed_dims=..., depths=...)``. Defaults to ``'tiny'``.
        embed_dims (int, optional): Stage-1 width; overrides ``arch``.
        depths (Sequence[int], optional): Blocks per stage; overrides ``arch``.
        in_channels (int): Image channels. Defaults to 3.
        pretrain_img_size (int): Input size the strip weights were trained
            at; the CLAP tile of stage i is ``pretrain_img_size / 4 / 2**i``
            tokens (56/28/14/7 for 224). Defaults to 224.
        mlp_ratio (int): Channel-mixing expansion. Defaults to 3.
        strip_groups (int | Sequence[int], optional): Channel groups of the
            strip MLPs per stage; default follows the official rule
            (:func:`official_strip_groups`).
        out_indices (Sequence[int]): Stages to return (0-3, strides
            4/8/16/32). Defaults to ``(1, 2, 3)`` (Cross-DINO's
            stride 8/16/32 levels, 160/320/640 channels for T).
        frozen_stages (int): ``-1`` freezes nothing, ``0`` the stem, ``k``
            the stem and stages ``0..k-1`` (each stage with its merging conv
            and the shortcuts that start at its input; stage 3 with the final
            norm). Frozen parts stay in eval mode. Defaults to -1.
        norm_eval (bool): Keep every BatchNorm in eval mode during training
            (running statistics frozen; affine parameters still train unless
            frozen). Defaults to False.
        norm_cfg (dict): Config of the BatchNorm layers (e.g. ``SyncBN``).
        drop_path_rate (float): Stochastic depth. Defaults to 0.1.
        drop_path_schedule (str): ``'constant'`` (every block gets
            ``drop_path_rate``, as the official code) or ``'linear'``
            (0 -> ``drop_path_rate`` over the blocks). Defaults to
            ``'constant'``.
        clap (bool): Run the strip MLPs on CLAP tiles, which accepts any
            input size. ``False`` is the plain classifier computation and
            needs exactly ``pretrain_img_size`` inputs. Defaults to True.
        clap_mode (str): Tiling rule, ``'even'`` or ``'mlp_dino'``; see
            :mod:`crossdino.models.layers.clap`. Defaults to ``'even'``.
        pad_to_stride (bool): Zero-pad the input bottom/right to a multiple
            of 32 so that no stride-2 conv drops a border row/column and any
            input from 1 px up works. ``False`` floors odd sizes as the
            official code does (the input must then be at least 32 px).
            Defaults to True.
        with_cp (bool): Activation checkpointing per block (with BN in train
            mode the recomputation updates the running statistics a second
            time; use it with ``norm_eval=True`` or accept that). Defaults to
            False.
        init_cfg (dict, optional): ``dict(type='Pretrained',
            checkpoint=PATH[, prefix=...])`` loads an official ImageNet or a
            converted checkpoint strictly (see :meth:`init_weights`).
    """

    def __init__(self,
                 arch='tiny',
                 embed_dims: Optional[int] = None,
                 depths: Optional[Sequence[int]] = None,
                 in_channels: int = 3,
                 pretrain_img_size: int = 224,
                 mlp_ratio: int = 3,
                 strip_groups=None,
                 out_indices: Sequence[int] = (1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 drop_path_rate: float = 0.1,
                 drop_path_schedule: str = 'constant',
                 clap: bool = True,
                 clap_mode: str = 'even',
                 pad_to_stride: bool = True,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            name = ARCH_ALIASES.get(arch.lower(), arch.lower())
            if name not in ARCH_SETTINGS:
                raise KeyError(f'unknown Strip-MLP arch {arch!r}; choose from '
                               f'{sorted(ARCH_SETTINGS)} or pass embed_dims/depths')
            arch = ARCH_SETTINGS[name]
        embed_dims = embed_dims if embed_dims is not None else arch['embed_dims']
        depths = tuple(depths if depths is not None else arch['depths'])
        if len(depths) != 4:
            raise ValueError(f'Strip-MLP has 4 stages, got depths={depths}')
        out_indices = tuple(out_indices)
        if not out_indices or any(i not in range(4) for i in out_indices):
            raise ValueError(
                f'out_indices must be a non-empty subset of 0-3, got {out_indices}')
        if drop_path_schedule not in ('constant', 'linear'):
            raise ValueError(
                f'drop_path_schedule must be constant|linear, '
                f'got {drop_path_schedule!r}'
            )
        if pretrain_img_size % 32:
            raise ValueError(
                f'pretrain_img_size must be a multiple of 32, got {pretrain_img_size}')

        self.embed_dims, self.depths = embed_dims, depths
        self.channels = [embed_dims * 2**i for i in range(4)]
        self.windows = [pretrain_img_size // 4 // 2**i for i in range(4)]
        self.strides = [4 * 2**i for i in range(4)]
        if strip_groups is None:
            strip_groups = [official_strip_groups(c) for c in self.channels]
        elif isinstance(strip_groups, int):
            strip_groups = [strip_groups] * 4
        self.strip_groups = list(strip_groups)
        self.out_indices = out_indices
        self.out_channels = [self.channels[i] for i in out_indices]
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval
        self.pad_to_stride, self.with_cp = pad_to_stride, with_cp

        total = sum(depths)
        if drop_path_schedule == 'linear':
            rates = torch.linspace(0, drop_path_rate, total).tolist()
        else:
            rates = [drop_path_rate] * total

        self.stem = nn.Conv2d(in_channels, embed_dims, 4, 4, bias=False)
        self.stages = nn.ModuleList()
        for i in range(4):
            start = sum(depths[:i])
            self.stages.append(
                StripMLPStage(
                    self.channels[i - 1] if i else embed_dims,
                    self.channels[i],
                    depths[i],
                    self.windows[i],
                    self.strip_groups[i],
                    downsample=i > 0,
                    drop_paths=rates[start:start + depths[i]],
                    mlp_ratio=mlp_ratio,
                    norm_cfg=norm_cfg,
                    clap=clap,
                    clap_mode=clap_mode,
                    with_cp=with_cp))
        c = self.channels
        self.shortcut_8to16 = nn.Conv2d(c[1], c[2], 2, 2, groups=c[1], bias=False)
        self.shortcut_8to32 = nn.Conv2d(c[2], c[3], 2, 2, groups=c[2], bias=False)
        self.shortcut_16to32 = nn.Conv2d(c[2], c[3], 2, 2, groups=c[2], bias=False)
        self.norm = build_norm_layer(norm_cfg, c[3])[1]
        self._freeze_stages()

    # ------------------------------------------------------------------ forward
    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        if self.pad_to_stride:
            h, w = x.shape[-2:]
            x = F.pad(x, (0, -w % 32, 0, -h % 32))
        elif min(x.shape[-2:]) < 32:
            raise ValueError(
                f'input {tuple(x.shape[-2:])} is smaller than the total stride 32; '
                f'use pad_to_stride=True')
        outs = []
        x = self.stages[0].forward_blocks(self.stem(x))
        if 0 in self.out_indices:
            outs.append(x)
        x = self.stages[1].downsample(x)
        skip16 = self.shortcut_8to16(x)
        skip32 = self.shortcut_8to32(skip16)
        x = self.stages[1].forward_blocks(x)
        if 1 in self.out_indices:
            outs.append(x)
        x = self.stages[2].downsample(x)
        skip32 = skip32 + self.shortcut_16to32(x)
        x = self.stages[2].forward_blocks(x + skip16)
        if 2 in self.out_indices:
            outs.append(x)
        x = self.stages[3].downsample(x)
        x = self.norm(self.stages[3].forward_blocks(x + skip32))
        if 3 in self.out_indices:
            outs.append(x)
        return tuple(outs)

    # ------------------------------------------------------- freezing and modes
    def _stage_modules(self, i: int) -> list:
        mods = [self.stages[i]]
        if i == 0:
            mods.append(self.stem)
        elif i == 1:
            mods += [self.shortcut_8to16, self.shortcut_8to32]
        elif i == 2:
            mods.append(self.shortcut_16to32)
        else:
            mods.append(self.norm)
        return mods

    def _frozen_modules(self) -> list:
        if self.frozen_stages < 0:
            return []
        mods = [self.stem]
        for i in range(min(self.frozen_stages, 4)):
            mods += self._stage_modules(i)
        return mods

    def _freeze_stages(self):
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    # ---------------------------------------------------------------- weights
    def _random_init(self):
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, CascadeStripMixing):
                trunc_normal_(m.rel_pos_h, std=.02)
                trunc_normal_(m.rel_pos_w, std=.02)

    def init_weights(self):
        """Random init (timm-style truncated normal), or a strict load of
        ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=None)``.

        The checkpoint may be an official Strip-MLP ImageNet file (``model``
        / ``state_dict`` wrappers accepted), a converted one, or a detector
        checkpoint with ``prefix='backbone.'``. The classifier head is
        dropped with a log line; every other missing or unexpected key
        raises ``KeyError``.
        """
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            self._random_init()
            super().init_weights()
            return
        ckpt = CheckpointLoader.load_checkpoint(
            cfg['checkpoint'], map_location='cpu', logger='current')
        state_dict = ckpt
        for wrapper in ('state_dict', 'model'):
            if isinstance(state_dict, dict) and wrapper in state_dict:
                state_dict = state_dict[wrapper]
                break
        prefix = cfg.get('prefix')
        if prefix:
            prefix = prefix if prefix.endswith('.') else prefix + '.'
            state_dict = {
                k[len(prefix):]: v
                for k, v in state_dict.items() if k.startswith(prefix)
            }
            if not state_dict:
                raise KeyError(f'no key of {cfg["checkpoint"]} starts with {prefix!r}')
        result = self.load_state_dict(state_dict, strict=False)
        missing = [
            k for k in result.missing_keys if not k.endswith('num_batches_tracked')
        ]
        if missing or result.unexpected_keys:
            raise KeyError(
                f'{cfg["checkpoint"]} does not match CLAPStripMLP('
                f'embed_dims={self.embed_dims}, depths={self.depths}): '
                f'missing keys {missing}, unexpected keys {result.unexpected_keys}')
        print_log(
            f'CLAPStripMLP: loaded {len(state_dict)} tensors from {cfg["checkpoint"]}',
            logger='current')
        self._is_init = True

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        """Accept official Strip-MLP keys: rename them in place (the dict is the
        loader's copy) before the children read theirs."""
        local = [k[len(prefix):] for k in state_dict if k.startswith(prefix)]
        if is_strip_mlp_official(local):
            official = {k: state_dict.pop(prefix + k) for k in local}
            converted, dropped = convert_strip_mlp_official(official)
            for k, v in converted.items():
                state_dict[prefix + k] = v
            print_log(
                f'CLAPStripMLP: converted {len(converted)} official Strip-MLP tensors' +
                (f'; dropped the classifier head ({", ".join(dropped)})'
                 if dropped else ''),
                logger='current')
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)
