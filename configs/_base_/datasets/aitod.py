# AI-TOD (v1) as released (COCO JSON; check it with
# tools/dataset_converters/check_coco.py). Protocol of SR-TOD / RFLA, which
# Cross-DINO follows (Sec. IV-A, Table IV): train on trainval, report on test,
# 800x800 input, batch 2 per GPU. AI-TOD has no separate validation split in
# this protocol: validation during training runs on test, as in RFLA.
dataset_type = 'AITODDataset'
data_root = 'data/AI-TOD/'
backend_args = None
img_scale = (800, 800)

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
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
        ann_file='annotations/aitod_trainval_v1.json',
        data_prefix=dict(img='trainval/images/'),
        # mmdet 2.x's default, which SR-TOD / RFLA train with.
        filter_cfg=dict(filter_empty_gt=True, min_size=0),
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
        ann_file='annotations/aitod_test_v1.json',
        data_prefix=dict(img='test/images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# AP, AP50, AP75 and the AI-TOD ranges AP_vt / AP_t / AP_s_aitod / AP_m_aitod
# (< 8, 8-16, 16-32, > 32 px) with up to 1500 detections per image (AI-TOD's
# protocol).
val_evaluator = dict(
    type='TinyObjectCocoMetric',
    ann_file=data_root + 'annotations/aitod_test_v1.json',
    max_dets=(100, 300, 1500),
    backend_args=backend_args)
test_evaluator = val_evaluator
