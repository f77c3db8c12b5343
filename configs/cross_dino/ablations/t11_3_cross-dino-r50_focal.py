# Table XI row 3: Cross-DINO-R50, focal loss.
_base_ = '../cross-dino-4scale_r50_visdrone.py'

model = dict(
    bbox_head=dict(
        loss_cls=dict(_delete_=True, type='FocalLoss', use_sigmoid=True,
                      alpha=0.25, gamma=2.0, loss_weight=1.0)))
