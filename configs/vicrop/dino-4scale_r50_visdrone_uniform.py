# The uniform-slicing control of the ViCrop config: tiles of the same size
# (half the side, overlapping by >= 20 %), K of N spread over the image when
# the budget pays for fewer, the same budget, crop scale and merge.
_base_ = './dino-4scale_r50_visdrone_vicrop.py'

vicrop = dict(mode='uniform', overlap_ratio=0.2)
