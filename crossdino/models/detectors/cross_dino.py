"""Cross-DINO: DINO with the Cross Coding Twice Module between the encoder
and the decoder.

Cross-DINO: Cross the Deep MLP and Transformer for Small Object Detection
(Cao et al., IEEE TMM 2025), Sec. III-A, Fig. 4. The data flow::

    backbone -> neck -> flatten (B) -> encoder (E) -> CCTM(E, B) = E_cf
        -> top-k query selection (on E) -> decoder (memory E_cf) -> head

B is the flattened, input-projected multi-level feature that enters the
encoder (``feat`` of ``pre_transformer``), token-aligned with the memory and
sharing its padding mask. With ``cctm=None`` the detector is mmdet's DINO.
The Boost loss lives in the head (:class:`CrossDINOHead`).

Which memory the top-k query selection reads is open (``query_memory``):

* ``'encoder'`` (default): DINO's two-stage proposals and the top-k read the
  encoder output E; the decoder's cross-attention reads E_cf. Sec. III-A
  says that "the Boost loss is applied to the encoder feature E and all
  decoder predictions" -- the only encoder-side loss of DINO is the one on
  the proposals scored from the memory the top-k reads, so that memory is
  E -- and that "the flattened Cross Feature E_cf ... is fed into the
  decoder".
* ``'cross'``: E_cf replaces the memory before the selection too (one
  reading of Fig. 4, and this project's default before issue 14).

Implementation: ``forward_encoder`` (the hook that sees B, the mask and the
level starts) hands B and the level starts on to ``pre_decoder``, where CCTM
runs. Running it there, not at the end of ``forward_encoder``, puts it after
anything a subclass appends to the encoder (the global ENACT layer of
:class:`ENACTCrossDINO`).
"""
from typing import Dict, Optional, Tuple

from mmdet.models.detectors import DINO
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList
from mmdet.utils import OptConfigType
from torch import Tensor

from .bounded_denoising import BoundedDenoisingMixin

QUERY_MEMORIES = ('encoder', 'cross')


@MODELS.register_module()
class CrossDINO(BoundedDenoisingMixin, DINO):
    """DINO + CCTM (Fig. 4).

    Args:
        cctm (dict, optional): config of the module crossing the encoder
            memory with the backbone-side feature, e.g. ``dict(type='CCTM',
            mode='twice')``; ``embed_dims`` defaults to the detector's. None
            disables it (plain DINO data flow).
        query_memory (str): the memory DINO's query selection reads,
            ``'encoder'`` (E, default) or ``'cross'`` (E_cf); the decoder
            reads E_cf either way. See the module docstring.
        *args, **kwargs: :class:`mmdet.models.DINO` arguments;
            ``dn_cfg.max_gts_per_image`` bounds the denoising part
            (:class:`BoundedDenoisingMixin`).
    """

    def __init__(self,
                 *args,
                 cctm: OptConfigType = None,
                 query_memory: str = 'encoder',
                 **kwargs) -> None:
        if query_memory not in QUERY_MEMORIES:
            raise ValueError(f'CrossDINO: query_memory must be one of '
                             f'{QUERY_MEMORIES}, got {query_memory!r}')
        self.query_memory = query_memory
        # Read by _init_layers, which DetectionTransformer.__init__ calls.
        self._cctm_cfg = cctm
        super().__init__(*args, **kwargs)

    def _init_layers(self) -> None:
        super()._init_layers()
        self.cctm = None
        if self._cctm_cfg is not None:
            cfg = dict(self._cctm_cfg)
            cfg.setdefault('embed_dims', self.embed_dims)
            self.cctm = MODELS.build(cfg)

    def forward_encoder(self, feat: Tensor, feat_mask: Tensor,
                        feat_pos: Tensor, spatial_shapes: Tensor,
                        level_start_index: Tensor,
                        valid_ratios: Tensor) -> Dict:
        """DINO's encoder; B (``feat``, (bs, L, C)) and the level starts are
        passed on to :meth:`pre_decoder` for CCTM."""
        out = super().forward_encoder(feat, feat_mask, feat_pos,
                                      spatial_shapes, level_start_index,
                                      valid_ratios)
        if self.cctm is not None:
            out.update(feat=feat, level_start_index=level_start_index)
        return out

    def pre_decoder(self,
                    memory: Tensor,
                    memory_mask: Tensor,
                    spatial_shapes: Tensor,
                    batch_data_samples: OptSampleList = None,
                    feat: Optional[Tensor] = None,
                    level_start_index: Optional[Tensor] = None,
                    **kwargs) -> Tuple[Dict, Dict]:
        """CCTM(E, B) = E_cf, then DINO's query selection on E or E_cf
        (``query_memory``); the decoder's memory is E_cf.

        Args:
            memory (Tensor): encoder output E, (bs, L, C).
            memory_mask (Tensor): (bs, L), True on padded tokens.
            spatial_shapes (Tensor): (num_levels, 2).
            batch_data_samples (list, optional): as in DINO.
            feat (Tensor, optional): B, (bs, L, C); given when CCTM is on.
            level_start_index (Tensor, optional): (num_levels,).
            **kwargs: passed on to the parent's ``pre_decoder`` (HMPE's
                ``heat`` and ``rank`` in :class:`CrossHMPEDINO`).
        """
        if self.cctm is None:
            return super().pre_decoder(memory, memory_mask, spatial_shapes,
                                       batch_data_samples, **kwargs)
        cross = self.cctm(memory, feat, mask=memory_mask,
                          level_start_index=level_start_index)
        select_from = memory if self.query_memory == 'encoder' else cross
        decoder_inputs, head_inputs = super().pre_decoder(
            select_from, memory_mask, spatial_shapes, batch_data_samples,
            **kwargs)
        decoder_inputs['memory'] = cross
        return decoder_inputs, head_inputs
