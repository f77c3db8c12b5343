# Proxy benchmark: DINO + a global self-attention layer with ENACT-clustered
# keys/values after the encoder (configs/_base_/models/global_enact_delta.py).
_base_ = ['./dino_r18_proxy.py', '../_base_/models/global_enact_delta.py']
model = _base_.global_enact_dino
