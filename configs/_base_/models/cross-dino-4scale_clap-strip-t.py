# Cross-DINO-CLAP-Strip-T, the paper's main model: DINO-CLAP-Strip-T + CCTM +
# Boost loss.
_base_ = ['./dino-4scale_clap-strip-t.py', './cross_dino_delta.py']
model = _base_.cross_dino
