# Table VI: DINO-Swin-T + CCTM.
_base_ = './t6_2_swin-t_0_dino.py'

model = dict(type='CrossDINO', cctm=dict(type='CCTM', mode='twice'))
