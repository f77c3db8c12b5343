# Table XI row 2: DINO-R50, Boost loss (beta 0.1).
_base_ = './t11_1_dino-r50_focal.py'

model = dict(
    bbox_head=dict(
        type='CrossDINOHead',
        loss_cls=dict(_delete_=True, type='BoostLoss', alpha=0.25,
                      beta=0.1, gamma=2.0, loss_weight=1.0)))
