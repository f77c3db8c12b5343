# WiderPerson as COCO JSON written by
# tools/dataset_converters/widerperson2coco.py
# (default --classes pedestrian). Protocol of IterDet, which Cross-DINO follows
# (Sec. IV-A, Table II): train on train (8000 images), report on val (1000
# images; test has no public ground truth). IterDet resizes training images
# to a random scale between (1000, 600) and (1666, 1000) and tests at
# (1333, 800); it skips training images without a pedestrian, which
# filter_empty_gt=True reproduces (ignored regions do not count).
# Cross-DINO trains COCO and WiderPerson with a mini-batch of 8: 4 GPUs x 2,
# or set train_dataloader.batch_size / --auto-scale-lr.
dataset_type = 'WiderPersonDataset'
data_root = 'data/WiderPerson/'
backend_args = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='RandomResize',
        scale=[(1000, 600), (1666, 1000)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
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
        ann_file='annotations/widerperson_train.json',
        data_prefix=dict(img='Images/'),
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
        ann_file='annotations/widerperson_val.json',
        data_prefix=dict(img='Images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# AP, Recall and the log-average miss rate mMR (FPPI 1e-2..1e0) on the 'Hard'
# subset (boxes taller than 20 px), ignored regions honoured (Table II).
val_evaluator = dict(
    type='WiderPersonMetric',
    ann_file=data_root + 'annotations/widerperson_val.json',
    backend_args=backend_args)
test_evaluator = val_evaluator
