"""Cross-DINO: DINO with the Cross Coding Twice Module between the encoder
and the decoder.

Cross-DINO: Cross the Deep MLP and Transformer for Small Object Detection
(Cao et al., IEEE TMM 2025), Sec. III-A, Fig. 4. The data flow::

    backbone -> neck -> flatten (B) -> encoder (E) -> CCTM(E, B) = E_cf
        -> top-k query selection on E_cf -> decoder (memory E_cf) -> head

B is the flattened, input-projected multi-level feature that enters the
encoder (``feat`` of ``pre_transformer``), token-aligned with the memory and
sharing its padding mask. E_cf replaces the memory before ``pre_decoder``,
so DINO's two-stage proposals, the top-k selection and the decoder's
cross-attention all read it. With ``cctm=None`` the detector is mmdet's DINO.
The Boost loss lives in the head (:class:`CrossDINOHead`).
"""
from typing import Dict, Tuple

from mmdet.models.detectors import DINO
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList
from mmdet.utils import OptConfigType
from torch import Tensor


@MODELS.register_module()
class CrossDINO(DINO):
    """DINO + CCTM (Fig. 4).

    Args:
        cctm (dict, optional): config of the module crossing the encoder
            memory with the backbone-side feature, e.g. ``dict(type='CCTM',
            mode='twice')``; ``embed_dims`` defaults to the detector's. None
            disables it (plain DINO data flow).
        *args, **kwargs: :class:`mmdet.models.DINO` arguments.
    """

    def __init__(self, *args, cctm: OptConfigType = None, **kwargs) -> None:
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

    def forward_transformer(self,
                            img_feats: Tuple[Tensor],
                            batch_data_samples: OptSampleList = None
                            ) -> Dict:
        """pre_transformer -> encoder -> CCTM -> pre_decoder -> decoder."""
        encoder_inputs_dict, decoder_inputs_dict = self.pre_transformer(
            img_feats, batch_data_samples)
        encoder_outputs_dict = self.forward_encoder(**encoder_inputs_dict)
        if self.cctm is not None:
            encoder_outputs_dict['memory'] = self.cctm(
                encoder_outputs_dict['memory'],
                encoder_inputs_dict['feat'],
                mask=encoder_outputs_dict['memory_mask'],
                level_start_index=encoder_inputs_dict['level_start_index'])
        tmp_dec_in, head_inputs_dict = self.pre_decoder(
            **encoder_outputs_dict, batch_data_samples=batch_data_samples)
        decoder_inputs_dict.update(tmp_dec_in)
        decoder_outputs_dict = self.forward_decoder(**decoder_inputs_dict)
        head_inputs_dict.update(decoder_outputs_dict)
        return head_inputs_dict
