# Test-only: the embedded synthetic demo (configs/demo/dino_r18_synthetic.py)
# with ViCrop-Det test-time cropping.
_base_ = '../demo/dino_r18_synthetic.py'

vicrop = dict(window_ratios=(0.25, ), crop_scale=2.0, budget=0.25, max_crops=4)
model = dict(_delete_=True,
             type='ViCropTTAModel',
             module=_base_.model,
             **vicrop)
