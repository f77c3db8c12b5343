# Proxy benchmark, HMPE Table 2 row "DSconv": the neck's snake path alone
# (Dynamic Snake Convolution, no linear path), no heatmap embedding, as
# configs/hmpe/ablations/t2_1_dsconv.py.
_base_ = './hmpe-dino_r18_proxy_lsconv.py'
model = dict(neck=dict(lsconv=dict(linear_mode='none')))
