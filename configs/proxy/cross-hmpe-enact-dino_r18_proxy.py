# Proxy benchmark: every training-side method in one detector (issue 19):
# Cross-DINO (CCTM + Boost), HMPE (LSConv neck, mask filter, MOHFE, HIDQ
# content) and the global ENACT layer, each with its own proxy settings.
# Queries: HIDQ's content at DINO's class top-k on the encoder memory E;
# the decoder reads CCTM's E_cf (crossdino/models/detectors/cross_hmpe_dino.py).
_base_ = [
    './cross-dino_r18_proxy.py', '../_base_/models/hmpe_delta.py',
    '../_base_/models/global_enact_delta.py'
]

model = dict(
    type='CrossHMPEDINO',
    neck=_base_.hmpe_dino.neck,
    hmpe=_base_.hmpe,
    global_enact=_base_.global_enact_dino.global_enact)
