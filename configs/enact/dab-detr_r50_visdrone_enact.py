# DAB-DETR-R50 + ENACT. The paper gives no sigma for DAB-DETR; 5 as for
# DETR / Conditional DETR.
_base_ = './dab-detr_r50_visdrone.py'

model = dict(
    type='ENACTDABDETR',
    encoder=dict(
        layer_cfg=dict(
            self_attn_cfg=dict(type='ENACTAttention', sigma=5.0))))
