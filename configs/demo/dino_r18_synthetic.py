# The embedded demo: DINO shrunk to train on the synthetic VisDrone-layout
# dataset (tools/dataset_converters/make_synthetic_visdrone.py) on a 2-core CPU
# in about 10 minutes. Same pipeline, converter, metric and tools as the real run.
_base_ = '../dino/dino-4scale_r50_visdrone.py'

data_root = 'data/synthetic_visdrone/'
img_scale = (256, 192)  # (w, h) of the generated images

model = dict(
    num_queries=60,
    backbone=dict(
        depth=18,
        frozen_stages=-1,
        # Random init (no download here): BN must learn its statistics.
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    neck=dict(in_channels=[128, 256, 512]),
    encoder=dict(num_layers=2, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=512))),
    decoder=dict(num_layers=3, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=512))),
    dn_cfg=dict(group_cfg=dict(num_dn_queries=24)),
    # every detection the head has (60 queries x 10 classes): the metric
    # counts up to 1500
    test_cfg=dict(max_per_img=600))

# The base pipelines, resized to the generated image size.
train_pipeline = _base_.train_pipeline
train_pipeline[2]['scale'] = img_scale  # Resize
test_pipeline = _base_.test_pipeline
test_pipeline[1]['scale'] = img_scale  # Resize
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
# The synthetic set has train and val only: test on val.
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        val_dataloader['dataset'],
        ann_file='annotations/visdrone2019-det-val.json',
        data_prefix=dict(img='VisDrone2019-DET-val/images/')))
val_evaluator = dict(ann_file=data_root + 'annotations/visdrone2019-det-val.json')
test_evaluator = val_evaluator

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(
    optimizer=dict(lr=2e-4),
    # A randomly initialised backbone learns at the full rate.
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0)}))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[10], gamma=0.1)
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
# mAP of the untrained model, so the log shows learning from the start.
custom_hooks = [dict(type='RandomStateHook'), dict(type='ValBeforeTrainHook')]
auto_scale_lr = dict(base_batch_size=4)
