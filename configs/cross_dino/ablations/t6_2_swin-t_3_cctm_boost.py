# Table VI: DINO-Swin-T + CCTM + Boost (= Cross-DINO-Swin-T).
_base_ = '../cross-dino-4scale_swin-t_8xb2-12e_coco.py'
