# Table VII row 1: DINO-R50 (baseline).
_base_ = '../../dino/dino-4scale_r50_visdrone.py'
