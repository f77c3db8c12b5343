"""DETR, Conditional DETR and DAB-DETR with ENACT encoder self-attention.

ENACT (Savathrakis & Argyros, ICIP 2025) clusters the encoder's keys and
values by the entropy of a learned token p.d.f.; see
:mod:`crossdino.models.layers.enact_attention`. mmdet's detectors build their
encoders from hard-coded classes, so each subclass below only swaps the
encoder class for one whose layers build ``self_attn_cfg`` through the
registry (``type`` defaults to ``'ENACTAttention'``). Decoders are untouched,
as in the paper (ENACT is an encoder-only plug-in).

The DINO family (:class:`ENACTDINO`, :class:`ENACTCrossDINO`) has a
deformable encoder, to which ENACT does not apply; there an OPTIONAL global
self-attention layer (``global_enact``, off by default) runs after the
encoder over the tokens of the coarsest ``num_levels`` level(s), with
ENACT-clustered keys/values, so that those tokens gain global context at a
memory cost of O(N x clusters). To switch a config::

    model = dict(type='ENACTDETR', encoder=dict(layer_cfg=dict(
        self_attn_cfg=dict(type='ENACTAttention', sigma=5.0))))

``DETR.init_weights`` xavier-inits every matrix of the encoder, which is the
paper's init of the p.d.f. Linear (xavier weight, zero bias) as well.
"""
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from mmdet.models.detectors import DABDETR, DETR, DINO, ConditionalDETR
from mmdet.models.layers import (ConditionalDetrTransformerDecoder,
                                 DABDetrTransformerDecoder,
                                 DetrTransformerDecoder,
                                 SinePositionalEncoding)
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList
from mmdet.utils import OptConfigType

from ..layers.enact_layers import (ENACTDABDetrTransformerEncoder,
                                   ENACTDetrTransformerEncoder,
                                   ENACTDetrTransformerEncoderLayer)
from .bounded_denoising import BoundedDenoisingMixin
from .cross_dino import CrossDINO


def _check_pos_feats(detector) -> None:
    num_feats = detector.positional_encoding.num_feats
    assert num_feats * 2 == detector.embed_dims, \
        f'embed_dims should be exactly 2 times of num_feats. ' \
        f'Found {detector.embed_dims} and {num_feats}.'


@MODELS.register_module()
class ENACTDETR(DETR):
    """DETR with ENACT encoder attention (mmdet ``DETR._init_layers``,
    encoder class swapped)."""

    decoder_cls = DetrTransformerDecoder

    def _init_layers(self) -> None:
        self.positional_encoding = SinePositionalEncoding(
            **self.positional_encoding)
        self.encoder = ENACTDetrTransformerEncoder(**self.encoder)
        self.decoder = self.decoder_cls(**self.decoder)
        self.embed_dims = self.encoder.embed_dims
        self.query_embedding = nn.Embedding(self.num_queries, self.embed_dims)
        _check_pos_feats(self)


@MODELS.register_module()
class ENACTConditionalDETR(ConditionalDETR):
    """Conditional DETR with ENACT encoder attention."""

    _init_layers = ENACTDETR._init_layers
    decoder_cls = ConditionalDetrTransformerDecoder


@MODELS.register_module()
class ENACTDABDETR(DABDETR):
    """DAB-DETR with ENACT encoder attention (mmdet ``DABDETR._init_layers``,
    encoder class swapped)."""

    def _init_layers(self) -> None:
        self.positional_encoding = SinePositionalEncoding(
            **self.positional_encoding)
        self.encoder = ENACTDABDetrTransformerEncoder(**self.encoder)
        self.decoder = DABDetrTransformerDecoder(**self.decoder)
        self.embed_dims = self.encoder.embed_dims
        self.query_dim = self.decoder.query_dim
        self.query_embedding = nn.Embedding(self.num_queries, self.query_dim)
        if self.num_patterns > 0:
            self.patterns = nn.Embedding(self.num_patterns, self.embed_dims)
        _check_pos_feats(self)


class GlobalENACTMixin:
    """Adds ``global_enact`` to a DINO-like detector (see the module doc).

    ``global_enact = dict(num_levels=1, layer_cfg=dict(self_attn_cfg=...,
    ffn_cfg=...))``: ``layer_cfg`` configures an
    :class:`ENACTDetrTransformerEncoderLayer` (post-norm ENACT attention,
    residual included, then FFN).
    The tokens of the last ``num_levels`` levels (the coarsest, flattened
    row-major, level after level) are refined in place in the memory, with
    the encoder's positional embedding (sine + level embedding; HMPE's
    mask-filtered one in :class:`CrossHMPEDINO`) and padding mask. Level
    sizes come from the feature shapes on the host, so slicing needs no
    device read. None: the parent detector unchanged.
    """

    def __init__(self, *args, global_enact: OptConfigType = None,
                 **kwargs) -> None:
        self._global_enact_cfg = global_enact  # read in _init_layers
        super().__init__(*args, **kwargs)

    def _init_layers(self) -> None:
        super()._init_layers()
        self.global_enact = None
        if self._global_enact_cfg is not None:
            cfg = dict(self._global_enact_cfg)
            self.global_enact_levels = cfg.get('num_levels', 1)
            self.global_enact = ENACTDetrTransformerEncoderLayer(
                **cfg['layer_cfg'])

    def init_weights(self) -> None:
        super().init_weights()
        if self.global_enact is not None:
            self.global_enact.self_attn.init_weights()

    def pre_transformer(self, mlvl_feats: Tuple[Tensor],
                        batch_data_samples: OptSampleList = None
                        ) -> Tuple[Dict, Dict]:
        encoder_inputs, decoder_inputs = super().pre_transformer(
            mlvl_feats, batch_data_samples)
        if self.global_enact is not None:
            encoder_inputs['level_sizes'] = [
                f.shape[-2] * f.shape[-1] for f in mlvl_feats]
        return encoder_inputs, decoder_inputs

    def forward_encoder(self, feat: Tensor, feat_mask: Tensor,
                        feat_pos: Tensor, spatial_shapes: Tensor,
                        level_start_index: Tensor, valid_ratios: Tensor,
                        level_sizes: Optional[List[int]] = None) -> Dict:
        out = super().forward_encoder(feat, feat_mask, feat_pos,
                                      spatial_shapes, level_start_index,
                                      valid_ratios)
        if self.global_enact is None:
            return out
        n = sum(level_sizes[-self.global_enact_levels:])
        memory = out['memory']
        mask = None if feat_mask is None else feat_mask[:, -n:]
        tail = self.global_enact(memory[:, -n:], feat_pos[:, -n:], mask)
        out['memory'] = torch.cat([memory[:, :-n], tail], dim=1)
        return out


@MODELS.register_module()
class ENACTDINO(GlobalENACTMixin, BoundedDenoisingMixin, DINO):
    """DINO with an optional global ENACT layer after the encoder."""


@MODELS.register_module()
class ENACTCrossDINO(GlobalENACTMixin, CrossDINO):
    """Cross-DINO with an optional global ENACT layer after the encoder
    (before CCTM, which then reads the refined memory)."""
