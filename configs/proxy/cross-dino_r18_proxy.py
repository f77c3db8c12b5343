# Proxy benchmark: Cross-DINO with the proxy's ResNet-18 (CCTM + Boost loss,
# beta 0.1); the CLAP-Strip-MLP backbone is not part of the proxy.
_base_ = './dino_r18_proxy_boost.py'

model = dict(
    type='CrossDINO',
    cctm=dict(type='CCTM', mode='twice'),
    query_memory='encoder')  # top-k on E, decoder on E_cf
