# Cross-DINO-CLAP-Strip-T on VisDrone2019-DET (Tables III, VII, X): the
# paper's main VisDrone model, Boost loss with beta = 0.1.
_base_ = [
    '../_base_/models/cross-dino-4scale_clap-strip-t.py',
    '../_base_/datasets/visdrone.py', '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py'
]
num_classes = 10

# The metric counts up to 1500 detections per image (max_dets): return
# as many (top-k over 900 queries x classes).
model = dict(
    bbox_head=dict(num_classes=num_classes, loss_cls=dict(beta=0.1)),
    test_cfg=dict(max_per_img=1500))
