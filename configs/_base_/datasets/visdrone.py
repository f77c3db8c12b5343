# VisDrone2019-DET as COCO JSON written by tools/dataset_converters/visdrone2coco.py.
# Protocol of Cross-DINO / SR-TOD / RFLA: train on train, report on test-dev;
# val is used for monitoring during training.
dataset_type = 'VisDroneDataset'
data_root = 'data/VisDrone2019/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    # Ground truth (ignored regions included) is kept for browsing and drawing.
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
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
        ann_file='annotations/visdrone2019-det-train.json',
        data_prefix=dict(img='VisDrone2019-DET-train/images/'),
        filter_cfg=dict(filter_empty_gt=False),
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
        ann_file='annotations/visdrone2019-det-val.json',
        data_prefix=dict(img='VisDrone2019-DET-val/images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        val_dataloader['dataset'],
        ann_file='annotations/visdrone2019-det-test-dev.json',
        data_prefix=dict(img='VisDrone2019-DET-test-dev/images/')))

# COCO AP/AP50/AP75/APs/m/l (bbox_mAP_s/m/l) plus the AI-TOD ranges
# (bbox_AP_vt, bbox_AP_t, bbox_AP_s_aitod, bbox_AP_m_aitod: < 8, 8-16, 16-32,
# > 32 px); ignored regions count neither as false positives nor as misses.
val_evaluator = dict(
    type='TinyObjectCocoMetric',
    ann_file=data_root + 'annotations/visdrone2019-det-val.json',
    max_dets=(100, 300, 1500),
    backend_args=backend_args)
test_evaluator = dict(
    val_evaluator,
    ann_file=data_root + 'annotations/visdrone2019-det-test-dev.json')
