# Table VI: DINO-ResNet50 + CCTM.
_base_ = './t6_1_r50_0_dino.py'

model = dict(type='CrossDINO', cctm=dict(type='CCTM', mode='twice'))
