# DINO-R50 on NWPU VHR-10 (the HMPE paper's remote-sensing benchmark):
# 10 classes, mAP50 and mAP50:95.
_base_ = [
    '../_base_/models/dino-4scale_r50.py', '../_base_/datasets/nwpu_vhr10.py',
    '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py'
]
num_classes = 10

model = dict(bbox_head=dict(num_classes=num_classes))
