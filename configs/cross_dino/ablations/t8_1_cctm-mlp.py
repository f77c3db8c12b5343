# Table VIII row 2: MLP only (w/o gating): E_cf = MLP(GRN(E + B)).
_base_ = './t8_3_cctm-twice.py'

model = dict(cctm=dict(mode='mlp'))
