# Table VIII row 4: CCTM (twice-gating).
_base_ = './t8_0_dino-r50.py'

model = dict(type='CrossDINO', cctm=dict(type='CCTM', mode='twice'))
