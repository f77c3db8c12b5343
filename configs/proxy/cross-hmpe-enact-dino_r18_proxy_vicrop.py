# The composed proxy detector, tested with ViCrop-Det (tools/test.py wraps
# the model when the config has a `vicrop` dict); crops from the originals.
_base_ = './cross-hmpe-enact-dino_r18_proxy.py'

vicrop = dict(budget=1.0)
