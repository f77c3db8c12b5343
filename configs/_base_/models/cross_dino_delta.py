# What Cross-DINO changes in a DINO model dict (Sec. III, Fig. 4): the CCTM
# between encoder and decoder and the Boost loss (Eq. 5) in the head.
# beta = 1.0 is the paper's default (COCO, WiderPerson); dataset configs set
# VisDrone / SODA-D 0.1 and AI-TOD 0.05. Used as
#   _base_ = ['<a DINO model>.py', './cross_dino_delta.py']
#   model = _base_.cross_dino
cross_dino = dict(
    type='CrossDINO',
    cctm=dict(type='CCTM', mode='twice'),
    # DINO's top-k query selection reads the encoder output E; the decoder
    # reads E_cf ('cross': both read E_cf; crossdino/models/detectors/
    # cross_dino.py says why)
    query_memory='encoder',
    bbox_head=dict(
        type='CrossDINOHead',
        loss_cls=dict(
            _delete_=True,
            type='BoostLoss',
            alpha=0.25,
            beta=1.0,
            gamma=2.0,
            loss_weight=1.0)))
