# dino_tiny_synthetic, sent SIGTERM during iteration 3: the first of its
# second epoch (2 iterations per epoch).
_base_ = './dino_tiny_synthetic.py'
custom_imports = dict(imports=['crossdino', 'tests.hooks'])
custom_hooks = [
    dict(type='RandomStateHook'),
    dict(type='SendSignalHook', at_iter=3, signum='SIGTERM')
]
