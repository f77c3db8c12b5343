"""Encoder layers of mmdet's MHSA DETRs whose self-attention comes from the
registry, so that ENACT (:class:`ENACTAttention`) is chosen by config.

mmdet's ``DetrTransformerEncoderLayer`` builds mmcv ``MultiheadAttention``
directly; these subclasses build ``self_attn_cfg`` through ``MODELS`` instead,
with ``type='ENACTAttention'`` when the config names no type. Everything else
(norms, FFN, forward, DAB-DETR's ``query_scale``) is mmdet's.
"""
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import ModuleList

from mmdet.models.layers import (MLP, DABDetrTransformerEncoder,
                                 DetrTransformerEncoder,
                                 DetrTransformerEncoderLayer)
from mmdet.registry import MODELS

from .checkpoint_wrapper import checkpoint_wrapper
from .enact_attention import ENACTAttention  # noqa: F401 (registers it)


class ENACTDetrTransformerEncoderLayer(DetrTransformerEncoderLayer):
    """DETR encoder layer; ``self_attn_cfg.type`` defaults to ENACT."""

    def _init_layers(self) -> None:
        cfg = dict(self.self_attn_cfg)
        cfg.setdefault('type', 'ENACTAttention')
        self.self_attn_cfg = cfg
        self.self_attn = MODELS.build(cfg)
        self.embed_dims = self.self_attn.embed_dims
        self.ffn = FFN(**self.ffn_cfg)
        self.norms = ModuleList([
            build_norm_layer(self.norm_cfg, self.embed_dims)[1]
            for _ in range(2)
        ])


def _enact_layers(encoder) -> ModuleList:
    """``encoder.num_layers`` ENACT layers, the first ``encoder.num_cp``
    activation-checkpointed (mmdet's ``num_cp``)."""
    layers = ModuleList([
        ENACTDetrTransformerEncoderLayer(**encoder.layer_cfg)
        for _ in range(encoder.num_layers)
    ])
    for layer in layers[:max(encoder.num_cp, 0)]:
        checkpoint_wrapper(layer)
    return layers


class ENACTDetrTransformerEncoder(DetrTransformerEncoder):
    """DETR / Conditional-DETR encoder with ENACT encoder layers."""

    def _init_layers(self) -> None:
        self.layers = _enact_layers(self)
        self.embed_dims = self.layers[0].embed_dims


class ENACTDABDetrTransformerEncoder(DABDetrTransformerEncoder):
    """DAB-DETR encoder (with its ``query_scale``) with ENACT layers."""

    def _init_layers(self) -> None:
        self.layers = _enact_layers(self)
        self.embed_dims = self.layers[0].embed_dims
        self.query_scale = MLP(self.embed_dims, self.embed_dims,
                               self.embed_dims, 2)
