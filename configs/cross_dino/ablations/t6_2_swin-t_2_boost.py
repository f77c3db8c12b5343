# Table VI: DINO-Swin-T + Boost (beta 0.1).
_base_ = './t6_2_swin-t_0_dino.py'

model = dict(
    bbox_head=dict(
        type='CrossDINOHead',
        loss_cls=dict(_delete_=True, type='BoostLoss', alpha=0.25,
                      beta=0.1, gamma=2.0, loss_weight=1.0)))
