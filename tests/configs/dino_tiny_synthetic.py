# The demo DINO shrunk for unit tests on a 2-core CPU (128x96 images).
_base_ = '../../configs/demo/dino_r18_synthetic.py'

img_scale = (128, 96)
max_epochs = 2
model = dict(
    num_queries=20,
    encoder=dict(num_layers=1, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=64))),
    decoder=dict(num_layers=2, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=64))),
    dn_cfg=dict(group_cfg=dict(num_dn_queries=10)),
    test_cfg=dict(max_per_img=20))

train_pipeline = _base_.train_pipeline
train_pipeline[2]['scale'] = img_scale  # Resize
test_pipeline = _base_.test_pipeline
test_pipeline[1]['scale'] = img_scale  # Resize
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[1], gamma=0.1)
]
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=1, max_keep_ckpts=-1))
custom_hooks = [dict(type='RandomStateHook')]
