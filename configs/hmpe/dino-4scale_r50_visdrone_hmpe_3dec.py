# DINO + HMPE with 3 decoder layers (HMPE, Table 4: 3 layers suffice); the
# head's prediction branches follow decoder.num_layers.
_base_ = './dino-4scale_r50_visdrone_hmpe.py'

model = dict(decoder=dict(num_layers=3))
