# Deterministic one-step set-up for the 2-process vs 1-process equivalence:
# two same-size images, no flip, frozen BN (batch statistics would differ
# between a batch of 2 and two batches of 1), (practically) noise-free denoising queries
# with a fixed group count, and SGD. SGD's step is linear in the gradient;
# Adam's first step is lr * g / (|g| + eps), which turns float reduction-order
# noise in near-zero gradients into steps of +-lr.
_base_ = './dino_tiny_synthetic.py'

model = dict(
    backbone=dict(norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True),
    dn_cfg=dict(
        label_noise_scale=1e-9,  # > 0 is asserted; this never flips a label
        box_noise_scale=1e-9,  # jitter of ~1e-9 of the box size
        group_cfg=dict(dynamic=False, num_groups=2, num_dn_queries=None)))
train_dataloader = dict(
    batch_size=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    batch_sampler=None,
    dataset=dict(
        indices=2,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='Resize', scale=(128, 96), keep_ratio=False),
            dict(type='PackDetInputs')
        ]))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9),
    clip_grad=dict(max_norm=0.1, norm_type=2))
train_cfg = dict(max_epochs=1)
default_hooks = dict(visualization=dict(type='DetVisualizationHook', draw=False))
