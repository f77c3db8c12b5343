# Proxy benchmark: DINO + CCTM between encoder and decoder (Cross-DINO
# Sec. III-C, applied twice as in the paper), focal loss kept.
_base_ = './dino_r18_proxy.py'

model = dict(
    type='CrossDINO',
    cctm=dict(type='CCTM', mode='twice'),
    query_memory='encoder')  # top-k on E, decoder on E_cf
