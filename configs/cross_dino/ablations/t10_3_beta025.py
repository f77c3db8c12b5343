# Table X row 4: Boost beta = 0.25.
_base_ = '../cross-dino-4scale_clap-strip-t_visdrone.py'

model = dict(bbox_head=dict(loss_cls=dict(beta=0.25)))
