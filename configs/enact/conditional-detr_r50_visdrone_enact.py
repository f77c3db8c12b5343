# Conditional DETR-R50 + ENACT (paper: sigma=5 for Conditional DETR).
_base_ = './conditional-detr_r50_visdrone.py'

model = dict(
    type='ENACTConditionalDETR',
    encoder=dict(
        layer_cfg=dict(
            self_attn_cfg=dict(type='ENACTAttention', sigma=5.0))))
