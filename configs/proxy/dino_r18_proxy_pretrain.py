# The proxy benchmark's shared initialisation, trained once per machine by
# tools/benchmarks/compare.py (about 12 minutes on 2 CPU cores): the proxy
# DINO from scratch for 8 epochs on the proxy's train split, seed 0. Every
# proxy variant fine-tunes from this checkpoint (dino_r18_proxy.py).
_base_ = './dino_r18_proxy.py'

load_from = None
partial_load = False
optim_wrapper = dict(
    optimizer=dict(lr=2e-4),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0)}))
max_epochs = 8
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[7], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
