# Cross-DINO-Swin-T on COCO (80 classes), 12 epochs (Tables I, VI):
# DINO + CCTM + Boost loss, beta = 0.1 (Table VI caption: 0.1 for Swin-T).
_base_ = [
    './baselines/dino-4scale_swin-t_8xb2-12e_coco.py',
    '../_base_/models/cross_dino_delta.py'
]
model = _base_.cross_dino
model.bbox_head.loss_cls.beta = 0.1
