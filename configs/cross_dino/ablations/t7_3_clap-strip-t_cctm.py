# Table VII row 3: + CCTM (focal loss kept).
_base_ = './t7_2_clap-strip-t.py'

model = dict(type='CrossDINO', cctm=dict(type='CCTM', mode='twice'))
