# The embedded synthetic demo (configs/demo/dino_r18_synthetic.py) tested
# with ViCrop-Det: tools/test.py wraps the model because of `vicrop`.
_base_ = '../demo/dino_r18_synthetic.py'

vicrop = dict(window_ratios=(0.5, ), crop_scale=2.0, budget=1.0)
