# Table XI row 4: Cross-DINO-R50, Boost loss (beta 0.1).
_base_ = '../cross-dino-4scale_r50_visdrone.py'
