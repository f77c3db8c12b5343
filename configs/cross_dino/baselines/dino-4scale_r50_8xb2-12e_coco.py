# mmdet's DINO-4scale R50 12e COCO config (80 classes), with crossdino's
# modules importable and auto_scale_lr usable from tools/train.py.
_base_ = 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py'

custom_imports = dict(imports=['crossdino'], allow_failed_imports=False)
auto_scale_lr = dict(enable=False, base_batch_size=16)
# crossdino's loop and RNG checkpointing: SIGINT/SIGTERM save a checkpoint
# and --resume continues mid-epoch, bit-identical (crossdino/engine/loops).
train_cfg = dict(type='ResumableEpochBasedTrainLoop')
custom_hooks = [dict(type='RandomStateHook')]
