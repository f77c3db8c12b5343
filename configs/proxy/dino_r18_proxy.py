# The proxy benchmark's baseline (tools/benchmarks/compare.py): the demo's
# small DINO (ResNet-18, 2+3 layers, 300 queries) on the 'aerial' synthetic
# set (make_synthetic_visdrone.py --profile aerial: 768x432 originals, dense
# clusters, 73 % of the boxes under 16 px), sized so that one run takes
# about 4 minutes on 2 CPU cores. Method variants are 5-line children.
_base_ = '../demo/dino_r18_synthetic.py'

data_root = 'data/proxy_aerial/'
img_scale = (512, 288)  # network input: the originals resized by 2/3
crop_size = (256, 256)  # training crops of the resized image

model = dict(
    # Dense scenes hold up to 300 objects; the metric counts up to 1500
    # detections, which DINO's top-k over queries x classes can return.
    num_queries=300,
    dn_cfg=dict(group_cfg=dict(num_dn_queries=100)),
    test_cfg=dict(max_per_img=1500))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, allow_negative_crop=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = _base_.test_pipeline
test_pipeline[1]['scale'] = img_scale
train_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
val_evaluator = dict(ann_file=data_root + 'annotations/visdrone2019-det-val.json')
test_evaluator = val_evaluator

# Every variant fine-tunes the shared proxy DINO (dino_r18_proxy_pretrain.py,
# trained once by compare.py): parameters a method adds or reshapes start
# from scratch, everything else from the checkpoint. Real configs start from
# ImageNet weights, which cannot be downloaded here, and a CPU cannot train
# a DETR from scratch in minutes.
load_from = 'work_dirs/proxy_pretrain/epoch_8.pth'
partial_load = True

# The budget: 2 epochs of 200 images (100 iterations of 4 crops, about 4
# minutes); compare.py --epochs stretches the schedule (max_epochs,
# milestones) to another budget.
max_epochs = 2
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[1], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
custom_hooks = [dict(type='RandomStateHook')]
# Fine-tuning rate; the backbone learns at a tenth of it, as in DINO's recipe.
optim_wrapper = dict(
    optimizer=dict(lr=1e-4),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
