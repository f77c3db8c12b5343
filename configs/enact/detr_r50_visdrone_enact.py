# DETR-R50 + ENACT: every encoder self-attention clusters its keys/values by
# entropy (paper: sigma=5 for DETR). Only the encoder changes.
_base_ = './detr_r50_visdrone.py'

model = dict(
    type='ENACTDETR',
    encoder=dict(
        layer_cfg=dict(
            self_attn_cfg=dict(type='ENACTAttention', sigma=5.0))))
