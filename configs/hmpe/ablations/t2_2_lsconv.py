# HMPE Table 2, row "Linear-Snake": no heatmap embedding (plain DINO data flow)
# on the Linear-Snake Conv neck.
_base_ = './t2_3_lsconv_mohfe.py'

model = dict(hmpe=None)
