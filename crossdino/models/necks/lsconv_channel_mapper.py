"""ChannelMapper with a residual Linear-Snake Conv block per level.

HMPE (Zeng et al., arXiv 2504.13469) Sec. 3.3 places LSConv feature
engineering between the backbone and the heatmap-embedded encoder; DINO's
neck is mmdet's ``ChannelMapper`` (per-level 1x1 projection + GN, one extra
stride-2 level), so the block goes there:

    out_l = proj_l(x_l);   out_l = out_l + LinearSnakeConv_l(out_l)

* ``lsconv_position='after'`` (default): the block runs on the projected
  ``out_channels``-wide map. Every level then costs the same per pixel and the
  2048-channel C5 of a ResNet-50 is never convolved at full width.
  ``'before'`` applies it to the backbone feature (``in_channels[l]`` wide)
  ahead of the projection instead.
* ``lsconv_levels``: indices into ``in_channels`` (None = all input levels).
  The extra levels (``num_outs > len(in_channels)``) get no block of their
  own; as in ChannelMapper the first extra conv reads the last input-side
  feature (the enhanced one for ``'before'``), the next ones the previous
  output.
* ``zero_init_residual=True`` (default) zeroes the block's last 1x1 conv after
  ``init_weights``, so an initialised neck computes exactly ChannelMapper's
  output and pretrained DINO weights keep their meaning; the offset convs
  receive gradient from the second iteration on. Not in the paper (it gives
  no initialisation).
* ``lsconv=None`` (or ``lsconv_levels=[]``) builds no block: the module is
  ChannelMapper, with the same state-dict keys.

Output contract identical to ChannelMapper: a tuple of ``num_outs`` tensors
``(bs, out_channels, H_l, W_l)``.
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmdet.models.necks import ChannelMapper
from mmdet.registry import MODELS
from mmdet.utils import OptConfigType, OptMultiConfig
from torch import Tensor

from ..layers.linear_snake_conv import LinearSnakeConv

LSCONV_POSITIONS = ('after', 'before')


@MODELS.register_module()
class LSConvChannelMapper(ChannelMapper):
    """ChannelMapper + residual LinearSnakeConv on selected levels.

    Args:
        in_channels, out_channels, kernel_size, conv_cfg, norm_cfg, act_cfg,
            bias, num_outs, init_cfg: as in mmdet's ``ChannelMapper``.
        lsconv (dict, optional): Keyword arguments of ``LinearSnakeConv``
            except the channel counts, e.g. ``dict(kernel_size=9,
            extend_scope=1.0)``. None builds no block.
        lsconv_levels (Sequence[int], optional): Input levels that get a
            block; None = all of them.
        lsconv_position (str): ``'after'`` (default) or ``'before'`` the
            per-level projection.
        zero_init_residual (bool): Zero the block's output conv after
            ``init_weights`` (identity residual at start). Default True.
    """

    def __init__(self,
                 in_channels: List[int],
                 out_channels: int,
                 kernel_size: int = 3,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 act_cfg: OptConfigType = dict(type='ReLU'),
                 bias: Union[bool, str] = 'auto',
                 num_outs: Optional[int] = None,
                 lsconv: Optional[dict] = dict(
                     kernel_size=9, extend_scope=1.0),
                 lsconv_levels: Optional[Sequence[int]] = None,
                 lsconv_position: str = 'after',
                 zero_init_residual: bool = True,
                 init_cfg: OptMultiConfig = dict(
                     type='Xavier', layer='Conv2d',
                     distribution='uniform')) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size=kernel_size,
            conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg, bias=bias,
            num_outs=num_outs, init_cfg=init_cfg)
        if lsconv_position not in LSCONV_POSITIONS:
            raise ValueError(f'lsconv_position must be one of '
                             f'{LSCONV_POSITIONS}, got {lsconv_position!r}')
        n = len(in_channels)
        levels = list(range(n)) if lsconv_levels is None else sorted(
            set(int(i) for i in lsconv_levels))
        bad = [i for i in levels if not 0 <= i < n]
        if bad:
            raise ValueError(f'lsconv_levels {bad} out of range for '
                             f'{n} input levels')
        if lsconv is None:
            levels = []
        self.lsconv_levels = levels
        self.lsconv_position = lsconv_position
        self.zero_init_residual = zero_init_residual
        self.lsconvs = nn.ModuleDict()
        for i in levels:
            ch = out_channels if lsconv_position == 'after' else in_channels[i]
            cfg = dict(lsconv)
            cfg.pop('type', None)
            self.lsconvs[str(i)] = LinearSnakeConv(ch, ch, **cfg)

    def init_weights(self) -> None:
        super().init_weights()
        if self.zero_init_residual:
            for block in self.lsconvs.values():
                nn.init.zeros_(block.fuse.weight)
                nn.init.zeros_(block.fuse.bias)

    def _enhance(self, i: int, x: Tensor) -> Tensor:
        key = str(i)
        if key in self.lsconvs:
            return x + self.lsconvs[key](x)
        return x

    def forward(self, inputs: Tuple[Tensor]) -> Tuple[Tensor]:
        """``inputs[l]: (bs, in_channels[l], H_l, W_l)`` -> tuple of
        ``(bs, out_channels, H_l, W_l)`` (``num_outs`` levels)."""
        assert len(inputs) == len(self.convs)
        before = self.lsconv_position == 'before'
        if before:
            inputs = [self._enhance(i, x) for i, x in enumerate(inputs)]
        outs = [conv(x) for conv, x in zip(self.convs, inputs)]
        if not before:
            outs = [self._enhance(i, x) for i, x in enumerate(outs)]
        if self.extra_convs:
            for i, conv in enumerate(self.extra_convs):
                outs.append(conv(inputs[-1] if i == 0 else outs[-1]))
        return tuple(outs)
