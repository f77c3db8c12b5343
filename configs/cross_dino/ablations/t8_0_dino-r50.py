# Table VIII row 1: DINO-R50 baseline on COCO.
_base_ = '../baselines/dino-4scale_r50_8xb2-12e_coco.py'
