# SODA-D (9 classes) as written by tools/dataset_converters/sodad2coco.py.
# Protocol of Cross-DINO Sec. IV-A (CFINet's preprocessing): the ~4000 x 3000
# images are cut into 800 x 800 patches with stride 650, each resized to
# 1200 x 1200 for training and testing; train on train, report on test,
# evaluated on the full test images after merging the patch detections
# (class-wise NMS at IoU 0.5, as CFINet's merge_dets) with SODA-D's size
# ranges (AP_eS, AP_rS, AP_gS, AP_N). As in SODA-D's protocol (evaluation
# with test_wo_ignore.json) the `ignore` regions play no part in the score:
# ignore_overlap_thr=None.
dataset_type = 'SODADDataset'
data_root = 'data/SODA-D/'
patch_tag = 'patch800-stride650'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1200, 1200), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1200, 1200), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        # the patch position, read by PatchMergeMetric
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'orig_image_id', 'x_offset', 'y_offset'))
]

train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=f'annotations/sodad-train-{patch_tag}.json',
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
        ann_file=f'annotations/sodad-val-{patch_tag}.json',
        data_prefix=dict(img=f'patches/val-{patch_tag}/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        val_dataloader['dataset'],
        ann_file=f'annotations/sodad-test-{patch_tag}.json',
        data_prefix=dict(img=f'patches/test-{patch_tag}/')))

val_evaluator = dict(
    type='PatchMergeMetric',
    metric=dict(
        type='SODADMetric',
        ann_file=data_root + 'annotations/sodad-val.json',
        ignore_overlap_thr=None,
        backend_args=backend_args),
    patch_ann_file=data_root + f'annotations/sodad-val-{patch_tag}.json',
    nms_iou_thr=0.5,
    # CFINet's merge_dets shifts and runs NMS without clipping to the image
    clip_to_image=False)
test_evaluator = dict(
    val_evaluator,
    metric=dict(
        val_evaluator['metric'],
        ann_file=data_root + 'annotations/sodad-test.json'),
    patch_ann_file=data_root + f'annotations/sodad-test-{patch_tag}.json')
