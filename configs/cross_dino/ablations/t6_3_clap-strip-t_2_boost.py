# Table VI: DINO-CLAP-Strip-T + Boost (beta 1.0).
_base_ = './t6_3_clap-strip-t_0_dino.py'

model = dict(
    bbox_head=dict(
        type='CrossDINOHead',
        loss_cls=dict(_delete_=True, type='BoostLoss', alpha=0.25,
                      beta=1.0, gamma=2.0, loss_weight=1.0)))
