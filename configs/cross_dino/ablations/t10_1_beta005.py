# Table X row 2: Boost beta = 0.05.
_base_ = '../cross-dino-4scale_clap-strip-t_visdrone.py'

model = dict(bbox_head=dict(loss_cls=dict(beta=0.05)))
