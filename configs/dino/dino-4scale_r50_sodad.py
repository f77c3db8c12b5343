# DINO-R50 on SODA-D (Cross-DINO Table V baseline): 9 classes, 800x800 patches
# (stride 650) resized to 1200x1200, merged back for evaluation.
_base_ = [
    '../_base_/models/dino-4scale_r50.py', '../_base_/datasets/sodad.py',
    '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py'
]
num_classes = 9

model = dict(bbox_head=dict(num_classes=num_classes))
