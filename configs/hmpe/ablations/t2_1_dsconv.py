# HMPE Table 2, row "DSconv": the Linear-Snake neck with its snake path
# alone (Dynamic Snake Convolution, no linear path); no heatmap embedding.
_base_ = './t2_2_lsconv.py'

model = dict(neck=dict(lsconv=dict(linear_mode='none')))
