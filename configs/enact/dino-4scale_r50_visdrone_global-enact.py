# DINO-R50 on VisDrone + an optional global self-attention layer after the
# deformable encoder, over the coarsest level's tokens, with ENACT-clustered
# keys/values (not in the ENACT paper, whose plug-in needs an MHSA encoder).
# model.global_enact=None restores plain DINO.
_base_ = '../dino/dino-4scale_r50_visdrone.py'

model = dict(
    type='ENACTDINO',
    global_enact=dict(
        num_levels=1,
        layer_cfg=dict(
            self_attn_cfg=dict(
                type='ENACTAttention', embed_dims=256, num_heads=8,
                dropout=0.0, sigma=5.0),
            ffn_cfg=dict(
                embed_dims=256, feedforward_channels=1024, ffn_drop=0.0))))
