# An optional global self-attention layer after DINO's deformable encoder,
# over the coarsest level's tokens, with ENACT-clustered keys/values (not in
# the ENACT paper, whose plug-in needs an MHSA encoder). Used as
#   _base_ = ['<a DINO config>.py', '<this file>']
#   model = _base_.global_enact_dino
global_enact_dino = dict(
    type='ENACTDINO',
    global_enact=dict(
        num_levels=1,
        layer_cfg=dict(
            self_attn_cfg=dict(
                type='ENACTAttention', embed_dims=256, num_heads=8,
                dropout=0.0, sigma=5.0),
            ffn_cfg=dict(
                embed_dims=256, feedforward_channels=1024, ffn_drop=0.0))))
