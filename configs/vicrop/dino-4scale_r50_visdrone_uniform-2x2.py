# Test-only: the SAHI-style baseline with the ViCrop config's crop scale and
# crop-pass query count (300): a 2x2 grid of tiles (20% overlap) plus the
# full-image pass, same merge.
_base_ = './dino-4scale_r50_visdrone_vicrop.py'

vicrop = dict(mode='uniform', slice_grid=(2, 2), overlap_ratio=0.2)
model = dict(mode='uniform', slice_grid=(2, 2), overlap_ratio=0.2)
