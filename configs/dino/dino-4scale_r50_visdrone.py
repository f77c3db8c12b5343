# DINO (mmdet's implementation) on VisDrone2019-DET: 4 scales, 900 queries,
# 100 denoising queries, 10 classes, ResNet-50, 12-epoch AdamW recipe,
# total batch 4 (1 GPU x 4; see auto_scale_lr for other layouts).
_base_ = [
    '../_base_/models/dino-4scale_r50.py', '../_base_/datasets/visdrone.py',
    '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py'
]
num_classes = 10

# The metric counts up to 1500 detections per image (max_dets): return
# as many (top-k over 900 queries x classes).
model = dict(
    bbox_head=dict(num_classes=num_classes),
    test_cfg=dict(max_per_img=1500))
