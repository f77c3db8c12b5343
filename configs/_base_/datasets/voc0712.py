# PASCAL VOC as in HMPE (Sec. 4.1, Table 1): train on VOC2007 trainval +
# VOC2012 trainval (16,551 images), report on VOC2007 test (4,952 images).
# Training reads the XML with mmdet's VOCDataset. The test split is read as
# COCO JSON written by mmdet's converter, because VOCAPMetric evaluates with
# the COCO API (HMPE follows RT-DETR) and needs the ground truth as JSON:
#   MMDET=$(.venv/bin/python -c \
#       "import mmdet, os; print(os.path.dirname(mmdet.__file__))")
#   .venv/bin/python $MMDET/.mim/tools/dataset_converters/pascal_voc.py \
#       data/VOCdevkit -o data/VOCdevkit/annotations --out-format coco
# (writes voc07_test.json with file_name 'VOC2007/JPEGImages/<id>.jpg' and
# 'difficult' objects as iscrowd=1, ignored by the COCO API as by VOC).
# HMPE "strictly follows" RT-DETR for the remaining standards: 640x640 input,
# multi-scale 480..800 in training; RT-DETR's photometric distortion,
# zoom-out and IoU crop are left out (see nwpu_vhr10.py). Unlike mmdet's
# voc0712.py, small boxes are not ignored (no bbox_min_size) and the
# training set is not repeated (HMPE trains 100-125 epochs).
dataset_type = 'VOCDataset'
data_root = 'data/VOCdevkit/'
backend_args = None
voc_classes = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus',
               'car', 'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
               'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
               'train', 'tvmonitor')

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoiceResize',
        scales=[(s, s) for s in range(480, 801, 32)],
        keep_ratio=False),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(640, 640), keep_ratio=False),
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
        type='ConcatDataset',
        # VOCDataset sets a per-year `dataset_type` in its metainfo, which
        # ConcatDataset would reject as a mismatch.
        ignore_keys=['dataset_type'],
        datasets=[
            dict(
                type=dataset_type,
                data_root=data_root,
                ann_file=f'VOC{year}/ImageSets/Main/trainval.txt',
                data_prefix=dict(sub_data_root=f'VOC{year}/'),
                filter_cfg=dict(filter_empty_gt=True, min_size=32),
                pipeline=train_pipeline,
                backend_args=backend_args) for year in ('2007', '2012')
        ]))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CocoDataset',
        metainfo=dict(classes=voc_classes),
        data_root=data_root,
        ann_file='annotations/voc07_test.json',
        data_prefix=dict(img=''),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# HMPE Table 1: mAP (IoU 0.5) and mAP@0.5:0.95 (COCO API). For the VOC
# devkit's 11-point AP on the XML instead, use mmdet's VOCDataset with
# ann_file='VOC2007/ImageSets/Main/test.txt' and
# dict(type='VOCMetric', metric='mAP', eval_mode='11points').
val_evaluator = dict(
    type='VOCAPMetric',
    ann_file=data_root + 'annotations/voc07_test.json',
    backend_args=backend_args)
test_evaluator = val_evaluator
