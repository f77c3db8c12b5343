# HMPE Table 2, row "Linear-Snake + MOHFE + HIDQ": the full model.
_base_ = '../dino-4scale_r50_visdrone_hmpe.py'
