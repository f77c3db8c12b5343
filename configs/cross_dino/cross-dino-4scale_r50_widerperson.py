# Cross-DINO-R50 on WiderPerson (Table II): CCTM + Boost loss with the
# default beta = 1.0 (Sec. IV-A), IterDet protocol, total batch 8.
_base_ = [
    '../_base_/models/cross-dino-4scale_r50.py',
    '../_base_/datasets/widerperson.py', '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py'
]
num_classes = 1

# WiderPerson's AP, recall and miss rate count every detection: return all
# the head has (900 queries x 1 class).
model = dict(
    bbox_head=dict(num_classes=num_classes),
    test_cfg=dict(max_per_img=900))
auto_scale_lr = dict(base_batch_size=8)
