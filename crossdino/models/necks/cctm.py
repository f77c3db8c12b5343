"""Cross Coding Twice Module (CCTM).

Cross-DINO: Cross the Deep MLP and Transformer for Small Object Detection
(Cao et al., IEEE TMM 2025), Sec. III-C, Eq. 1-3, Fig. 5; ablation Table VIII.
No official code was released; this follows the equations.

CCTM crosses the backbone-side feature B with the encoder memory E, both
token sequences of shape (bs, L, C). In Cross-DINO B is the flattened,
input-projected multi-level feature that enters the encoder (token-aligned
with the memory), so E_cf can replace the memory before DINO's top-k query
selection and the decoder.

Step 1, once-gating (Eq. 1-2), with its mirror for B::

    E' = sigmoid(GELU(LN(FC(E))))          B' = sigmoid(GELU(LN(FC(B))))
    E1 = E + B * (1 - E')                  B1 = B + E * (1 - B')

Channel re-weighting: ``E2 = MLP(GRN(E1))``, ``B2 = MLP(GRN(B1))``, with
GRN the Global Response Normalization of ConvNeXt-V2 and MLP two FC layers.

Step 2, twice-gating (Eq. 3)::

    E_cf = 2 E * (B'E') + B * (1 - B'E')

Which tensors enter Eq. 3 after the GRN/MLP step is not stated. The default
``eq3_inputs='gates'`` recomputes the gating maps of Eq. 1 (same gate
layers) on the re-weighted crossed features, ``B'E' = gate_B(B2) *
gate_E(E2)``, and blends the *original* E and B with it. Reasons: the text
says the second step selects "based on the crossing gating map B'E' from
the original feature of B and E"; the crossed, re-weighted features must
feed the output somewhere, and this keeps E and B literal; gating twice is
the module's name. Alternatives: ``'features'`` blends E2 and B2 with the
step-1 gates, ``'both'`` blends E2 and B2 with gates recomputed on them.

Ablation variants (Table VIII), ``mode``:

* ``'twice'`` -- the full module above.
* ``'once'`` -- once-gating only (no crossing gating map B'E'):
  ``E_cf = MLP(GRN(E + B * (1 - E')))``.
* ``'mlp'`` -- no gating at all, the same GRN + MLP on the plain sum:
  ``E_cf = MLP(GRN(E + B))``.

GRN takes an L2 norm over tokens per channel. Padded tokens (``mask`` True)
are excluded from those statistics, so they cannot change the output of
valid tokens; every other operation is token-wise. The statistics span all
levels together by default (the paper treats the flattened (B, C, L)
sequence); ``grn_per_level=True`` computes them per feature level.
timm's ``GlobalResponseNorm`` has no padding mask, hence the own layer.
"""
from typing import Optional

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

CCTM_MODES = ('twice', 'once', 'mlp')
EQ3_INPUTS = ('gates', 'features', 'both')
GRN_POSITIONS = ('input', 'hidden')


class MaskedGRN(nn.Module):
    """Global Response Normalization over tokens, with a padding mask.

    ``x: (bs, L, C)``. Per image and channel ``G = ||x||_2`` over the valid
    tokens (of each level when ``level_ids`` is given), ``N = G / (mean_C G +
    eps)``, ``out = gamma * (x * N) + beta + x``. gamma and beta start at
    zero, so the layer is the identity at init (as in ConvNeXt-V2). G and N
    are computed in fp32 whatever the input dtype.
    """

    def __init__(self, dims: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(dims))
        self.beta = nn.Parameter(torch.zeros(dims))
        self.eps = eps

    def forward(self,
                x: Tensor,
                mask: Optional[Tensor] = None,
                level_ids: Optional[Tensor] = None,
                num_levels: int = 1) -> Tensor:
        # Statistics in fp32: the sum of squares over thousands of tokens
        # overflows fp16 (max 65504) at ordinary activation sizes.
        sq = x.float().pow(2)
        if mask is not None:
            sq = sq.masked_fill(mask[..., None], 0)
        if level_ids is None:
            gx = sq.sum(dim=1, keepdim=True).sqrt()  # (bs, 1, C)
            nx = gx / (gx.mean(dim=-1, keepdim=True) + self.eps)
        else:
            sums = sq.new_zeros(x.size(0), num_levels, x.size(-1))
            gx = sums.index_add(1, level_ids, sq).sqrt()  # (bs, nl, C)
            nx = gx / (gx.mean(dim=-1, keepdim=True) + self.eps)
            nx = nx[:, level_ids]  # back to (bs, L, C)
        nx = nx.to(x.dtype)
        return self.gamma * (x * nx) + self.beta + x


class CrossGate(nn.Sequential):
    """The gating map of Eq. 1: ``sigmoid(GELU(LN(FC(x))))``."""

    def __init__(self, dims: int) -> None:
        super().__init__(
            nn.Linear(dims, dims), nn.LayerNorm(dims), nn.GELU(),
            nn.Sigmoid())


class ChannelCoder(nn.Module):
    """GRN and two MLP layers (FC-GELU-FC), Sec. III-C.

    ``grn_position='input'``: GRN -> FC -> GELU -> FC (the paper's order of
    words, "GRN and two MLP layers"); ``'hidden'``: FC -> GELU -> GRN -> FC,
    the order of ConvNeXt-V2's block, which the authors' GRN-MLP follows.
    """

    def __init__(self, dims: int, hidden_dims: int,
                 grn_position: str = 'input') -> None:
        super().__init__()
        if grn_position not in GRN_POSITIONS:
            raise ValueError(f'ChannelCoder: grn_position must be one of '
                             f'{GRN_POSITIONS}, got {grn_position!r}')
        self.grn_position = grn_position
        self.grn = MaskedGRN(dims if grn_position == 'input' else hidden_dims)
        self.fc1 = nn.Linear(dims, hidden_dims)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dims, dims)

    def forward(self, x: Tensor, mask: Optional[Tensor],
                level_ids: Optional[Tensor], num_levels: int) -> Tensor:
        if self.grn_position == 'input':
            x = self.grn(x, mask, level_ids, num_levels)
        x = self.act(self.fc1(x))
        if self.grn_position == 'hidden':
            x = self.grn(x, mask, level_ids, num_levels)
        return self.fc2(x)


@MODELS.register_module()
class CCTM(BaseModule):
    """Cross Coding Twice Module (Eq. 1-3 of Cross-DINO).

    Args:
        embed_dims (int): channels C of E and B. Defaults to 256.
        mlp_ratio (float): hidden width of the two MLP layers, in units of
            C. Defaults to 4 (about 1.2M parameters at C = 256, the paper's
            "+1M" of Cross-DINO-R50 over DINO-R50).
        mode (str): 'twice' (CCTM), 'once' or 'mlp' (Table VIII).
        eq3_inputs (str): 'gates' (default), 'features' or 'both'; which
            tensors Eq. 3 blends, see the module docstring.
        encoder_weight (float): the weight of E in Eq. 3. Defaults to 2.
        grn_per_level (bool): GRN statistics per feature level instead of
            over all tokens. Defaults to False.
        grn_position (str): where GRN sits in the channel coder, 'input'
            (before the first FC, default) or 'hidden' (between the two FC
            layers, as in ConvNeXt-V2's block); see :class:`ChannelCoder`.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 mlp_ratio: float = 4.0,
                 mode: str = 'twice',
                 eq3_inputs: str = 'gates',
                 encoder_weight: float = 2.0,
                 grn_per_level: bool = False,
                 grn_position: str = 'input',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for key, value, allowed in (('mode', mode, CCTM_MODES),
                                    ('eq3_inputs', eq3_inputs, EQ3_INPUTS),
                                    ('grn_position', grn_position,
                                     GRN_POSITIONS)):
            if value not in allowed:
                raise ValueError(f'CCTM: {key} must be one of {allowed}, '
                                 f'got {value!r}')
        if mlp_ratio <= 0:
            raise ValueError(f'CCTM: mlp_ratio must be > 0, got {mlp_ratio}')
        self.embed_dims = embed_dims
        self.mode = mode
        self.eq3_inputs = eq3_inputs
        self.encoder_weight = encoder_weight
        self.grn_per_level = grn_per_level
        hidden = int(round(embed_dims * mlp_ratio))
        # Only the layers the mode uses exist (no unused parameters in DDP).
        if mode in ('twice', 'once'):
            self.gate_e = CrossGate(embed_dims)
        if mode == 'twice':
            self.gate_b = CrossGate(embed_dims)
            self.coder_b = ChannelCoder(embed_dims, hidden, grn_position)
        self.coder_e = ChannelCoder(embed_dims, hidden, grn_position)

    def init_weights(self) -> None:
        super().init_weights()
        if self.init_cfg is None:
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)

    def forward(self,
                memory: Tensor,
                feat: Tensor,
                mask: Optional[Tensor] = None,
                level_start_index: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            memory (Tensor): encoder output E, (bs, L, C).
            feat (Tensor): backbone-side feature B, (bs, L, C), token-aligned
                with ``memory``.
            mask (Tensor, optional): (bs, L) bool, True on padded tokens.
            level_start_index (Tensor, optional): (num_levels,) first token
                of each level; needed when ``grn_per_level``.

        Returns:
            Tensor: E_cf, (bs, L, C).
        """
        e, b = memory, feat
        level_ids, num_levels = None, 1
        if self.grn_per_level:
            if level_start_index is None:
                raise ValueError('CCTM(grn_per_level=True) needs '
                                 'level_start_index')
            num_levels = level_start_index.numel()
            # level id of every token: how many level starts lie at or before
            level_ids = torch.bucketize(
                torch.arange(e.size(1), device=e.device),
                level_start_index, right=True) - 1
        coder = dict(mask=mask, level_ids=level_ids, num_levels=num_levels)

        if self.mode == 'mlp':
            return self.coder_e(e + b, **coder)
        e_gate = self.gate_e(e)  # E', Eq. 1
        e2 = self.coder_e(e + b * (1 - e_gate), **coder)  # Eq. 2, GRN+MLP
        if self.mode == 'once':
            return e2
        b_gate = self.gate_b(b)  # B'
        b2 = self.coder_b(b + e * (1 - b_gate), **coder)
        if self.eq3_inputs == 'features':
            cross_gate = b_gate * e_gate
        else:
            cross_gate = self.gate_b(b2) * self.gate_e(e2)
        if self.eq3_inputs != 'gates':
            e, b = e2, b2
        return self.encoder_weight * e * cross_gate + b * (1 - cross_gate)
