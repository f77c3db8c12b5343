# HMPE Table 2, row "Linear-Snake + MOHFE": HIDQ off (DINO's top-k by class
# score, learned content queries); heatmap head, mask filter and MOHFE on.
_base_ = './t2_4_lsconv_mohfe_hidq.py'

model = dict(hmpe=dict(query_selection='class', hidq_content=False))
