# Table VI: DINO-ResNet50 (no CCTM, no Boost), COCO.
_base_ = '../baselines/dino-4scale_r50_8xb2-12e_coco.py'
