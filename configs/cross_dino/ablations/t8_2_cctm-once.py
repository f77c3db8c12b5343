# Table VIII row 3: once-gating only (no crossing gating map B'E').
_base_ = './t8_3_cctm-twice.py'

model = dict(cctm=dict(mode='once'))
