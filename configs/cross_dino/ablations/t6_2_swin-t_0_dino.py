# Table VI: DINO-Swin-T (no CCTM, no Boost), COCO.
_base_ = '../baselines/dino-4scale_swin-t_8xb2-12e_coco.py'
