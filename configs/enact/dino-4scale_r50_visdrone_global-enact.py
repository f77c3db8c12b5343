# DINO-R50 on VisDrone + an optional global self-attention layer after the
# deformable encoder, over the coarsest level's tokens, with ENACT-clustered
# keys/values (configs/_base_/models/global_enact_delta.py).
# model.global_enact=None restores plain DINO.
_base_ = ['../dino/dino-4scale_r50_visdrone.py',
          '../_base_/models/global_enact_delta.py']
model = _base_.global_enact_dino
