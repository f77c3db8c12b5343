# Cross-DINO-CLAP-Strip-T on SODA-D (Table V): beta = 0.1, CFINet's patch
# protocol, batch 4.
_base_ = [
    '../_base_/models/cross-dino-4scale_clap-strip-t.py',
    '../_base_/datasets/sodad.py', '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py'
]
num_classes = 9

model = dict(
    bbox_head=dict(num_classes=num_classes, loss_cls=dict(beta=0.1)))
