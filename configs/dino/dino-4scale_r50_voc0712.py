# DINO-R50 on PASCAL VOC 07+12 -> VOC07 test (the HMPE paper's second
# benchmark): 20 classes, mAP50 and mAP50:95.
_base_ = [
    '../_base_/models/dino-4scale_r50.py', '../_base_/datasets/voc0712.py',
    '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py'
]
num_classes = 20

model = dict(bbox_head=dict(num_classes=num_classes))
