# The 12-epoch (1x) AdamW recipe of DINO / Cross-DINO (Sec. IV-A): lr 1e-4,
# weight decay 1e-4, backbone lr x0.1, grad-norm clip 0.1, lr x0.1 at epoch 11.
# crossdino's EpochBasedTrainLoop: saves on SIGINT/SIGTERM and resumes
# mid-epoch with bit-identical results (crossdino/engine/loops).
train_cfg = dict(
    type='ResumableEpochBasedTrainLoop', max_epochs=12, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))

param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[11],
        gamma=0.1)
]

# The recipe's total batch is 4 (VisDrone / SODA-D). `tools/train.py
# --auto-scale-lr` rescales lr linearly for another GPUs x batch product.
auto_scale_lr = dict(enable=False, base_batch_size=4)
