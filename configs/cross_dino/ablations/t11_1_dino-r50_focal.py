# Table XI row 1: DINO-R50, focal loss.
_base_ = '../../dino/dino-4scale_r50_visdrone.py'
