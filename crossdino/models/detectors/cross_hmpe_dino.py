"""Every training-side method of the project in one DINO (issue 19).

:class:`CrossHMPEDINO` is Cross-DINO (CCTM between encoder and decoder, the
Boost loss through ``CrossDINOHead``) + HMPE (mask filter, MOHFE, HIDQ
content queries) + the optional global ENACT layer, with bounded denoising
available; ViCrop wraps it at test time like any DINO (the config's
``vicrop`` dict). ``cctm``, ``hmpe`` and ``global_enact`` set to None
switch off the module each names; the Boost loss lives in the head
(``bbox_head.loss_cls``) and HMPE's Linear-Snake Conv in the neck
(``neck.type``), so a config drops those there.

Where the methods meet (the order of one forward pass):

1. HMPE's heatmap head reads the neck; the mask filter replaces the
   encoder's positional embedding and MOHFE adds the heatmap embedding to
   its input tokens (HMPE Eq. 6-7).
2. The encoder, then the global ENACT layer over the coarsest level's
   tokens of its output (memory E); the layer's positional embedding is
   the encoder's, i.e. HMPE's mask-filtered one (cold tokens keep only the
   level embedding).
3. CCTM(E, B) = E_cf, the decoder's memory; B is the encoder's input
   tokens (with MOHFE's embedding added: what the encoder saw).
4. Query selection and content: both HMPE and CCTM change what the decoder
   starts from. HIDQ selects positions by DINO's class top-k and writes the
   content from the heat-weighted memory (Eq. 8); both read E, as
   Cross-DINO's ``query_memory='encoder'`` (its default) reads E for the
   top-k (``'cross'`` makes both read E_cf). So the queries are HMPE's.

The classes compose by Python's method order (global ENACT, then CCTM,
then HMPE, around DINO); each method's own tests cover it, and
``tests/test_models/test_detectors/test_cross_hmpe_dino.py`` the
composition.
"""
from mmdet.registry import MODELS

from .cross_dino import CrossDINO
from .enact_detr import GlobalENACTMixin
from .hmpe_dino import HMPEDINO


@MODELS.register_module()
class CrossHMPEDINO(GlobalENACTMixin, CrossDINO, HMPEDINO):
    """Cross-DINO + HMPE + global ENACT (see the module docstring).

    Args:
        global_enact (dict, optional): :class:`GlobalENACTMixin`'s layer.
        cctm (dict, optional), query_memory (str): :class:`CrossDINO`'s.
        hmpe (dict, optional): :class:`HMPEDINO`'s.
        *args, **kwargs: :class:`mmdet.models.DINO` arguments, with
            ``dn_cfg.max_gts_per_image`` (bounded denoising).
    """
