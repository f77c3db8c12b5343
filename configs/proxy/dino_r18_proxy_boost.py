# Proxy benchmark: DINO + the Boost loss (Cross-DINO Eq. 5, beta 0.1 as the
# paper's VisDrone configs) in place of the focal loss.
_base_ = './dino_r18_proxy.py'

model = dict(
    bbox_head=dict(
        type='CrossDINOHead',
        loss_cls=dict(_delete_=True, type='BoostLoss', alpha=0.25,
                      beta=0.1, gamma=2.0, loss_weight=1.0)))
