# Cross-DINO-CLAP-Strip-T on VisDrone2019-DET (Tables III, VII, X): the
# paper's main VisDrone model. DINO-CLAP-Strip-T + CCTM + Boost (beta = 0.1).
_base_ = '../dino/dino-4scale_clap-strip-t_visdrone.py'

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
