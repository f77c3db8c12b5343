# Cross-DINO-ResNet50 on COCO (80 classes), 12 epochs (Tables I, VI):
# DINO + CCTM + Boost loss, beta = 1.0 (the COCO default, Sec. IV-A).
_base_ = './baselines/dino-4scale_r50_8xb2-12e_coco.py'

model = dict(
    type='CrossDINO',
    cctm=dict(type='CCTM', mode='twice'),
    bbox_head=dict(
        type='CrossDINOHead',
        loss_cls=dict(
            _delete_=True,
            type='BoostLoss',
            alpha=0.25,
            beta=1.0,
            gamma=2.0,
            loss_weight=1.0)))
