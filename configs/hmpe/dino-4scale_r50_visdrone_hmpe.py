# DINO + HMPE (Zeng, arXiv 2504.13469) on VisDrone2019-DET: Linear-Snake
# Conv neck (Sec. 3.3), a trained per-level heatmap head, the heatmap mask
# filter on the encoder's positional encoding (Eq. 4, 6-7), MOHFE (Eq. 5) and
# HIDQ query selection (Eq. 8-9); 6 decoder layers. Everything else is
# configs/dino/dino-4scale_r50_visdrone.py; the HMPE parts are
# configs/_base_/models/hmpe_delta.py.
_base_ = ['../dino/dino-4scale_r50_visdrone.py',
          '../_base_/models/hmpe_delta.py']
model = _base_.hmpe_dino
