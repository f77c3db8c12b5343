# Table X row 1: Cross-DINO-CLAP-Strip-T with focal loss.
_base_ = '../cross-dino-4scale_clap-strip-t_visdrone.py'

model = dict(
    bbox_head=dict(
        loss_cls=dict(_delete_=True, type='FocalLoss', use_sigmoid=True,
                      alpha=0.25, gamma=2.0, loss_weight=1.0)))
