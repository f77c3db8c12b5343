# Proxy benchmark: HMPE-DINO with the HMPE configs' defaults
# (configs/_base_/models/hmpe_delta.py: Linear-Snake neck, heatmap head, mask
# filter, MOHFE, HIDQ); the neck keeps the proxy's ResNet-18 channels.
_base_ = ['./dino_r18_proxy.py', '../_base_/models/hmpe_delta.py']
model = _base_.hmpe_dino
