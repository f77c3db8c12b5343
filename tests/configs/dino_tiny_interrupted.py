# dino_tiny_synthetic, killed in the middle of its second epoch.
_base_ = './dino_tiny_synthetic.py'
custom_imports = dict(imports=['crossdino', 'tests.hooks'])
custom_hooks = [
    dict(type='RandomStateHook'),
    dict(type='InterruptTrainingHook', at_iter=3)
]
