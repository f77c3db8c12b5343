"""Heatmap positional encoding: the mask filter of HMPE.

HMPE: HeatMap Embedding for Efficient Transformer-Based Small Object
Detection (Zeng, arXiv 2504.13469), Sec. 3.1 (Eq. 4) and Sec. 3.2.1
(Eq. 6-7). A class heatmap H_class and a box heatmap H_bbox are mixed by a
gate lambda (Eq. 4)::

    H_mixed = lambda * H_class + (1 - lambda) * H_bbox

and the sine positional encoding is kept only where the (normalised, see
``heat_norm``) mixed heat exceeds tau ("hot", good embeddings) and zeroed
elsewhere ("cold", background)::

    PE'(i, j, :) = Mask(i, j) * PE(i, j, :),   Mask = 1[H_mixed > tau]

Deviations from the paper, all switchable:

- The paper's heatmaps are gradient-weighted activation maps (Eq. 1-3). Here
  the module takes any heatmap in [0, 1]; the detector feeds it the output of
  a trained heatmap head (:class:`HeatmapHead`), and the gradient version is
  an analysis tool (:func:`gradient_weighted_heatmap`).
- A class heatmap with several channels (one per class) is reduced by a max
  over classes before mixing.
- ``heat_norm='minmax_levels'`` (Fig. 2: "applies norm, followed by
  upsampling"; the paper normalises one map per image) rescales H_mixed to
  [0, 1] with one min and max per image over the unpadded pixels of all
  levels together (:class:`HMPEDINO` does the joint part; a single map is
  normalised on its own). ``'minmax'`` does it per level, which makes every
  level's hottest token 1, a level without objects included. None uses the
  heat as is.
- ``soft=True`` replaces the hard mask by the gate
  ``sigmoid((H_mixed - tau) / soft_temperature)`` (differentiable).
- Padded pixels (``mask`` True) are always cold: their encoding is zero.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.layers import SinePositionalEncoding
from mmdet.registry import MODELS
from torch import Tensor

HeatmapInput = Union[Tensor, Tuple[Tensor, Tensor]]
HEAT_NORMS = (None, 'minmax', 'minmax_levels')


@MODELS.register_module()
class HeatmapPositionalEncoding(SinePositionalEncoding):
    """Sine positional encoding masked by a mixed class/box heatmap.

    With ``heatmap=None`` the forward is exactly mmdet's
    :class:`SinePositionalEncoding` (same call contract as in
    ``DeformableDETR.pre_transformer``: ``pe(mask)`` or
    ``pe(None, input=feat)``).

    Args:
        num_feats, temperature, normalize, scale, eps, offset: as in
            :class:`mmdet.models.layers.SinePositionalEncoding`.
        mix_lambda (float): lambda of Eq. 4 in [0, 1]. Defaults to 0.5.
        learnable_lambda (bool): learn lambda (stored as a logit). Under the
            hard mask it receives gradients only through other users of
            :meth:`mix` (e.g. HIDQ's content queries). Defaults to False.
        tau (float): threshold of the mask filter; heat > tau is hot.
            Defaults to 0.3.
        soft (bool): soft sigmoid gate instead of the hard mask.
            Defaults to False (the paper's hard mask).
        soft_temperature (float): temperature of the soft gate.
            Defaults to 0.1.
        heat_norm (str, optional): ``'minmax_levels'``, ``'minmax'`` or
            None (module docstring). Defaults to ``'minmax'``.
    """

    def __init__(self,
                 num_feats: int,
                 temperature: int = 10000,
                 normalize: bool = False,
                 scale: float = 2 * math.pi,
                 eps: float = 1e-6,
                 offset: float = 0.,
                 mix_lambda: float = 0.5,
                 learnable_lambda: bool = False,
                 tau: float = 0.3,
                 soft: bool = False,
                 soft_temperature: float = 0.1,
                 heat_norm: Optional[str] = 'minmax',
                 init_cfg=None) -> None:
        super().__init__(num_feats, temperature, normalize, scale, eps,
                         offset, init_cfg)
        if not 0. <= mix_lambda <= 1.:
            raise ValueError(f'mix_lambda must be in [0, 1], got {mix_lambda}')
        if heat_norm not in HEAT_NORMS:
            raise ValueError(
                f'heat_norm must be one of {HEAT_NORMS}, got {heat_norm!r}')
        self.tau = tau
        self.soft = soft
        self.soft_temperature = soft_temperature
        self.heat_norm = heat_norm
        self.learnable_lambda = learnable_lambda
        if learnable_lambda:
            lam = min(max(mix_lambda, 1e-4), 1 - 1e-4)
            self.lambda_logit = nn.Parameter(
                torch.tensor(math.log(lam / (1 - lam))))
        else:
            self.mix_lambda = float(mix_lambda)

    @property
    def lam(self) -> Union[Tensor, float]:
        """lambda of Eq. 4 (a tensor when learnable)."""
        if self.learnable_lambda:
            return self.lambda_logit.sigmoid()
        return self.mix_lambda

    def mix(self,
            h_class: Tensor,
            h_bbox: Tensor,
            mask: Optional[Tensor] = None,
            normalize: bool = True) -> Tensor:
        """Eq. 4 (+ ``heat_norm``): the mixed heatmap.

        Args:
            h_class (Tensor): (bs, C, h, w) in [0, 1]; C > 1 is reduced by a
                max over classes.
            h_bbox (Tensor): (bs, 1, h, w) in [0, 1].
            mask (Tensor, optional): (bs, h, w) bool, True = padded.
            normalize (bool): apply ``heat_norm`` (per image and map). False
                keeps the raw mixed probabilities, which stay comparable
                across levels (HIDQ ranks all levels together).

        Returns:
            Tensor: H_mixed, (bs, 1, h, w); zero on padded pixels.
        """
        if h_class.size(1) > 1:
            h_class = h_class.amax(1, keepdim=True)
        lam = self.lam
        heat = lam * h_class + (1 - lam) * h_bbox
        if normalize:
            return self.normalize_heat(heat, mask)
        return heat if mask is None else heat * ~mask[:, None].bool()

    def normalize_heat(self, heat: Tensor,
                       mask: Optional[Tensor] = None) -> Tensor:
        """``heat_norm`` of a mixed heatmap, per image and map.

        Args:
            heat (Tensor): (bs, 1, h, w), e.g. ``mix(..., normalize=False)``.
            mask (Tensor, optional): (bs, h, w) bool, True = padded; padded
                pixels are left out of the min / max and set to zero.

        Returns:
            Tensor: (bs, 1, h, w).
        """
        valid = None if mask is None else ~mask[:, None].bool()
        if self.heat_norm in ('minmax', 'minmax_levels'):
            flat = heat.flatten(1)
            vflat = None if valid is None else valid.flatten(1)
            hi = flat if vflat is None else flat.masked_fill(~vflat, -1e4)
            lo = flat if vflat is None else flat.masked_fill(~vflat, 1e4)
            hi = hi.amax(1).view(-1, 1, 1, 1)
            lo = lo.amin(1).view(-1, 1, 1, 1)
            heat = (heat - lo) / (hi - lo).clamp(min=1e-6)
        if valid is not None:
            heat = heat * valid
        return heat

    def gate(self, heat: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """Eq. 6: the mask filter, (bs, 1, h, w) -> (bs, 1, h, w) in [0, 1].

        Hard: 1 where ``heat > tau`` else 0 (heat == tau is cold). Soft:
        ``sigmoid((heat - tau) / soft_temperature)``. 0 on padded pixels.
        """
        if self.soft:
            g = torch.sigmoid((heat - self.tau) / self.soft_temperature)
        else:
            g = (heat > self.tau).to(heat.dtype)
        if mask is not None:
            g = g * (~mask[:, None].bool()).to(g.dtype)
        return g

    def forward(self,
                mask: Optional[Tensor],
                input: Optional[Tensor] = None,
                heatmap: Optional[HeatmapInput] = None) -> Tensor:
        """Eq. 7: sine encoding times the mask filter.

        Args:
            mask (Tensor, optional): (bs, h, w), non-zero = padded pixel.
            input (Tensor, optional): (bs, c, h, w) feature; used for the
                shape when ``mask`` is None.
            heatmap (Tensor | tuple[Tensor, Tensor], optional): either
                H_mixed, (bs, 1, h', w'), used as is, or ``(H_class,
                H_bbox)``, (bs, C, h', w') and (bs, 1, h', w'), mixed by
                :meth:`mix`. Resized bilinearly to (h, w) when h', w'
                differ. None gives the plain sine encoding.

        Returns:
            Tensor: (bs, num_feats * 2, h, w).
        """
        pos = super().forward(mask, input)
        if heatmap is None:
            return pos
        size = pos.shape[-2:]
        if isinstance(heatmap, Tensor):
            heat = _resize(heatmap, size)
        else:
            heat = self.mix(_resize(heatmap[0], size),
                            _resize(heatmap[1], size), mask)
        return pos * self.gate(heat, mask)


def _resize(x: Tensor, size: Sequence[int]) -> Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode='bilinear',
                         align_corners=False)
