# Cross-DINO-CLAP-Strip-T on COCO (80 classes), 12 epochs (Tables I, VI):
# DINO + CCTM + Boost loss, beta = 1.0 (the COCO default, Sec. IV-A), on
# mmdet's DINO COCO recipe.
_base_ = [
    './baselines/dino-4scale_clap-strip-t_8xb2-12e_coco.py',
    '../_base_/models/cross_dino_delta.py'
]
model = _base_.cross_dino
