# Cross-DINO-R50 on AI-TOD (Table IV): CCTM + Boost loss, beta = 0.05
# (Table IV caption), 800x800, batch 2.
_base_ = [
    '../_base_/models/cross-dino-4scale_r50.py', '../_base_/datasets/aitod.py',
    '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py'
]
num_classes = 8

model = dict(
    bbox_head=dict(num_classes=num_classes, loss_cls=dict(beta=0.05)))
auto_scale_lr = dict(base_batch_size=2)
