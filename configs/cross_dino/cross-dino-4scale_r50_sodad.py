# Cross-DINO-R50 on SODA-D (Table V): CCTM + Boost loss, beta = 0.1
# (Table V caption), CFINet's patch protocol, batch 4.
_base_ = [
    '../_base_/models/cross-dino-4scale_r50.py', '../_base_/datasets/sodad.py',
    '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py'
]
num_classes = 9

model = dict(
    bbox_head=dict(num_classes=num_classes, loss_cls=dict(beta=0.1)))
