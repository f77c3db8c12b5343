# Proxy benchmark, HMPE Table 2 row "Linear-Snake": the Linear-Snake Conv
# neck alone, no heatmap embedding (HMPEDINO with hmpe=None is DINO's data
# flow), as configs/hmpe/ablations/t2_2_lsconv.py.
_base_ = './hmpe-dino_r18_proxy.py'
model = dict(hmpe=None)
