# DINO-CLAP-Strip-T (Cross-DINO, Tables I and III) on VisDrone2019-DET: the
# DINO-R50 VisDrone recipe with the CLAP-Strip-T backbone
# (configs/_base_/models/dino-4scale_clap-strip-t.py says where the ImageNet
# weights go).
_base_ = [
    '../_base_/models/dino-4scale_clap-strip-t.py',
    '../_base_/datasets/visdrone.py', '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py'
]
num_classes = 10

# The metric counts up to 1500 detections per image (max_dets): return
# as many (top-k over 900 queries x classes).
model = dict(
    bbox_head=dict(num_classes=num_classes),
    test_cfg=dict(max_per_img=1500))
