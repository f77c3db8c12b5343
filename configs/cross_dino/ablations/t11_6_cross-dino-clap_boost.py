# Table XI row 6: Cross-DINO-CLAP-Strip-T, Boost loss (beta 0.05).
# beta 0.05: this row's 35.2 AP is the beta = 0.05 run of Table X.
_base_ = '../cross-dino-4scale_clap-strip-t_visdrone.py'

model = dict(bbox_head=dict(loss_cls=dict(beta=0.05)))
