"""``dn_cfg.max_gts_per_image`` for DINO-family detectors.

mmdet's ``DINO.__init__`` builds its ``CdnQueryGenerator`` from ``dn_cfg``
directly (not through a registry), so the bound is a detector mixin: it
takes ``max_gts_per_image`` out of ``dn_cfg``, lets DINO build everything,
then swaps in a :class:`BoundedCdnQueryGenerator` with the same settings.
Why and how the bound works: :mod:`crossdino.models.layers.
bounded_cdn_query_generator`.
"""
from mmdet.models.detectors import DINO
from mmdet.registry import MODELS
from mmdet.utils import OptConfigType

from ..layers.bounded_cdn_query_generator import BoundedCdnQueryGenerator


class BoundedDenoisingMixin:
    """Adds ``dn_cfg.max_gts_per_image`` (None: DINO's unbounded denoising)
    to a DINO subclass. The head must build its denoising targets from the
    same subset, as :class:`CrossDINOHead` does (with a focal loss it equals
    mmdet's ``DINOHead``)."""

    def __init__(self, *args, dn_cfg: OptConfigType = None, **kwargs) -> None:
        cap = None
        if dn_cfg is not None:
            dn_cfg = dict(dn_cfg)
            cap = dn_cfg.pop('max_gts_per_image', None)
        super().__init__(*args, dn_cfg=dn_cfg, **kwargs)
        if cap is None:
            return
        if not getattr(self.bbox_head, 'reads_dn_gt_keep', False):
            raise ValueError(
                'dn_cfg.max_gts_per_image needs a head that builds the '
                'denoising targets from the same subset of ground truths: '
                "bbox_head.type='CrossDINOHead' (equal to DINOHead with a "
                f'focal loss), not {type(self.bbox_head).__name__}')
        # DINO.__init__ completed dn_cfg (num_classes, embed_dims, queries)
        self.dn_query_generator = BoundedCdnQueryGenerator(
            max_gts_per_image=cap, **dn_cfg)


@MODELS.register_module()
class BoundedDenoisingDINO(BoundedDenoisingMixin, DINO):
    """mmdet's DINO with ``dn_cfg.max_gts_per_image``: the detector the
    dense-scene configs (AI-TOD) use for DINO itself. With
    ``bbox_head.type='CrossDINOHead'`` and a focal loss it equals DINO while
    no image holds more objects than the bound."""
