# Proxy benchmark, decoder depth (HMPE Table 4 at proxy scale): HMPE-DINO
# with 2 decoder layers instead of 3, from the same cut shared DINO as
# dino_r18_proxy_2dec.py.
_base_ = './hmpe-dino_r18_proxy.py'
model = dict(decoder=dict(num_layers=2))
load_from = 'work_dirs/proxy_pretrain/epoch_8_2dec.pth'
