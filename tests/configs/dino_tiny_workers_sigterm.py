# dino_tiny_workers, sent SIGTERM during iteration 1, in the middle of the
# first epoch (before its validation).
_base_ = './dino_tiny_workers.py'
custom_imports = dict(imports=['crossdino', 'tests.hooks'])
custom_hooks = [
    dict(type='RandomStateHook'),
    dict(type='SendSignalHook', at_iter=1, signum='SIGTERM')
]
