# DOTA-v1.5, horizontal boxes (16 classes), as written by
# tools/dataset_converters/dota2coco.py: 1024 x 1024 patches with gap 200
# (stride 824), the DOTA devkit's standard split.
# Protocol (ViCrop-Det reports DOTA-v1.5 on val; the test labels are not
# public): train on the train patches, evaluate on the val patches, with the
# patch detections merged back onto the full val images (class-wise NMS at
# IoU 0.5) and scored against the full-image JSON.
dataset_type = 'DOTAv15Dataset'
data_root = 'data/DOTA-v1.5/'
patch_tag = 'patch1024-stride824'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1024, 1024), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1024, 1024), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        # the patch position, read by PatchMergeMetric
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'orig_image_id', 'x_offset', 'y_offset'))
]

train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=f'annotations/dota-v1.5-train-{patch_tag}.json',
        data_prefix=dict(img=f'patches/train-{patch_tag}/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=1),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=f'annotations/dota-v1.5-val-{patch_tag}.json',
        data_prefix=dict(img=f'patches/val-{patch_tag}/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='PatchMergeMetric',
    metric=dict(
        type='TinyObjectCocoMetric',
        ann_file=data_root + 'annotations/dota-v1.5-val.json',
        max_dets=(100, 300, 1500),
        backend_args=backend_args),
    patch_ann_file=data_root + f'annotations/dota-v1.5-val-{patch_tag}.json',
    nms_iou_thr=0.5,
    max_per_img=1500)
test_evaluator = val_evaluator
