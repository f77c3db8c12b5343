# Cross-DINO-R50 (Tables I, III, VI, XI): DINO-R50 + CCTM + Boost loss.
_base_ = ['./dino-4scale_r50.py', './cross_dino_delta.py']
model = _base_.cross_dino
