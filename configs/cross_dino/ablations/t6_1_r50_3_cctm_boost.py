# Table VI: DINO-ResNet50 + CCTM + Boost (= Cross-DINO-ResNet50).
_base_ = '../cross-dino-4scale_r50_8xb2-12e_coco.py'
