# The random-window control of the ViCrop config: windows of the same size,
# drawn at random (seeded per image), the same window NMS, budget and merge.
_base_ = './dino-4scale_r50_visdrone_vicrop.py'

vicrop = dict(mode='random', seed=0)
