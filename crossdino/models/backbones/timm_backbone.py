"""Any timm model as an mmdet backbone, through timm's ``features_only`` API.

Example (ConvNeXt-T at strides 8/16/32 for DINO)::

    backbone=dict(type='TimmBackbone', model_name='convnext_tiny',
                  out_indices=(1, 2, 3),
                  checkpoint_path='pretrained/convnext_tiny.pth'),
    neck=dict(in_channels=[192, 384, 768])

The channels and strides of the returned levels are in ``out_channels`` and
``strides`` (from timm's ``feature_info``) so a config can be checked against
them. Weights come from a local file through timm's own loader and key filter
(``pretrained_cfg_overlay=dict(file=...)``); nothing is downloaded unless
``pretrained=True`` is given without a file.
"""
from typing import Optional, Sequence, Tuple

import timm
from mmengine.model import BaseModule, initialize
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet.registry import MODELS


@MODELS.register_module()
class TimmBackbone(BaseModule):
    """Wrap ``timm.create_model(model_name, features_only=True, ...)``.

    Args:
        model_name (str): A timm model name (``timm.list_models()``).
        out_indices (Sequence[int]): Feature levels to return, as timm counts
            them (for most CNNs 0-4 = strides 2/4/8/16/32; see
            ``feature_info``). Defaults to ``(1, 2, 3)``.
        checkpoint_path (str, optional): Local weights file, loaded by timm
            with the model's checkpoint filter (official/timm layouts).
        pretrained (bool): Let timm fetch its default weights (needs
            network). Ignored when ``checkpoint_path`` is given.
        in_channels (int): Image channels. Defaults to 3.
        frozen (bool): Freeze all parameters (and keep the model in eval
            mode). Defaults to False.
        norm_eval (bool): Keep BatchNorm layers in eval mode during training.
            Defaults to False.
        **kwargs: Passed on to ``timm.create_model`` (``drop_path_rate``,
            ``output_stride``, ...).
    """

    def __init__(self,
                 model_name: str,
                 out_indices: Sequence[int] = (1, 2, 3),
                 checkpoint_path: Optional[str] = None,
                 pretrained: bool = False,
                 in_channels: int = 3,
                 frozen: bool = False,
                 norm_eval: bool = False,
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        super().__init__(init_cfg=init_cfg)
        if checkpoint_path:
            kwargs['pretrained_cfg_overlay'] = dict(file=checkpoint_path)
            pretrained = True
        self.model = timm.create_model(
            model_name,
            pretrained=pretrained,
            features_only=True,
            out_indices=tuple(out_indices),
            in_chans=in_channels,
            **kwargs)
        self.model_name = model_name
        self.out_indices = tuple(out_indices)
        self.out_channels = list(self.model.feature_info.channels())
        self.strides = list(self.model.feature_info.reduction())
        self.frozen, self.norm_eval = frozen, norm_eval
        if frozen:
            for p in self.model.parameters():
                p.requires_grad = False

    def init_weights(self):
        """timm set the weights at construction (its own init or the file).
        An explicit ``init_cfg`` (e.g. ``Pretrained`` with ``prefix``) is
        applied on top; mmengine's recursive init of the children is skipped
        so that it cannot call timm's per-module ``init_weights`` again."""
        if self.init_cfg:
            initialize(self, self.init_cfg)
        self._is_init = True

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        return tuple(self.model(x))

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.frozen:
            self.model.eval()
        elif mode and self.norm_eval:
            for m in self.model.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
