# Cross-DINO-R50 on VisDrone2019-DET (Tables III and XI): DINO-R50 + CCTM
# between encoder and decoder + Boost loss with beta = 0.1 (the VisDrone
# value, Sec. IV-A / appendix Table X). Data and schedule: the DINO config.
_base_ = '../dino/dino-4scale_r50_visdrone.py'

model = dict(
    type='CrossDINO',
    cctm=dict(type='CCTM', mode='twice'),
    bbox_head=dict(
        type='CrossDINOHead',
        loss_cls=dict(
            _delete_=True,
            type='BoostLoss',
            alpha=0.25,
            beta=0.1,
            gamma=2.0,
            loss_weight=1.0)))
