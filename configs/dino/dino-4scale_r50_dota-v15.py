# DINO-R50 on DOTA-v1.5 (horizontal boxes, 16 classes; ViCrop-Det's aerial
# benchmark): 1024x1024 patches, merged back for evaluation.
_base_ = [
    '../_base_/models/dino-4scale_r50.py', '../_base_/datasets/dota_v15.py',
    '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py'
]
num_classes = 16

# The metric counts up to 1500 detections per image (max_dets): return
# as many (top-k over 900 queries x classes).
model = dict(
    bbox_head=dict(num_classes=num_classes),
    test_cfg=dict(max_per_img=1500))
