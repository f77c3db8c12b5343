"""DETR, Conditional DETR and DAB-DETR with ENACT encoder self-attention.

ENACT (Savathrakis & Argyros, ICIP 2025) clusters the encoder's keys and
values by the entropy of a learned token p.d.f.; see
:mod:`crossdino.models.layers.enact_attention`. mmdet's detectors build their
encoders from hard-coded classes, so each subclass below only swaps the
encoder for one whose layers build ``self_attn_cfg`` through the registry
(``type`` defaults to ``'ENACTAttention'``). Decoders are untouched, as in the
paper (ENACT is an encoder-only plug-in). To switch a config::

    model = dict(type='ENACTDETR', encoder=dict(layer_cfg=dict(
        self_attn_cfg=dict(type='ENACTAttention', sigma=5.0))))
"""
from mmdet.models.detectors import DABDETR, DETR, ConditionalDETR
from mmdet.registry import MODELS

from ..layers.enact_layers import (ENACTDABDetrTransformerEncoder,
                                   ENACTDetrTransformerEncoder)


class _ENACTEncoderMixin:
    """Rebuilds ``self.encoder`` with ``encoder_cls`` after the parent's
    ``_init_layers`` (which consumed the encoder config)."""

    encoder_cls = ENACTDetrTransformerEncoder

    def _init_layers(self) -> None:
        encoder_cfg = self.encoder  # still the config dict here
        super()._init_layers()
        self.encoder = self.encoder_cls(**encoder_cfg)


@MODELS.register_module()
class ENACTDETR(_ENACTEncoderMixin, DETR):
    """DETR with ENACT encoder attention."""


@MODELS.register_module()
class ENACTConditionalDETR(_ENACTEncoderMixin, ConditionalDETR):
    """Conditional DETR with ENACT encoder attention."""


@MODELS.register_module()
class ENACTDABDETR(_ENACTEncoderMixin, DABDETR):
    """DAB-DETR with ENACT encoder attention."""

    encoder_cls = ENACTDABDetrTransformerEncoder
