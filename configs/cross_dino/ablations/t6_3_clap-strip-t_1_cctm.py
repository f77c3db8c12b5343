# Table VI: DINO-CLAP-Strip-T + CCTM.
_base_ = './t6_3_clap-strip-t_0_dino.py'

model = dict(type='CrossDINO', cctm=dict(type='CCTM', mode='twice'))
