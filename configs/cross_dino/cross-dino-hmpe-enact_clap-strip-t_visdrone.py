# Every method of the project in one model, VisDrone2019-DET (issue 19):
# Cross-DINO-CLAP-Strip-T (CLAP-Strip-MLP T, CCTM, Boost loss), HMPE (LSConv
# neck, mask filter, MOHFE, HIDQ content queries), the global ENACT layer
# after the encoder, and ViCrop-Det at test time (tools/test.py and
# tools/infer.py wrap the model because of the `vicrop` dict).
# Queries: HIDQ's content at DINO's class top-k on the encoder memory E; the
# decoder reads CCTM's E_cf (crossdino/models/detectors/cross_hmpe_dino.py).
_base_ = [
    './cross-dino-4scale_clap-strip-t_visdrone.py',
    '../_base_/models/hmpe_delta.py', '../_base_/models/global_enact_delta.py'
]

model = dict(
    type='CrossHMPEDINO',
    neck=_base_.hmpe_dino.neck,
    hmpe=_base_.hmpe,
    global_enact=_base_.global_enact_dino.global_enact)
vicrop = dict(budget=1.0)  # canvas-size crops from the originals (defaults)
