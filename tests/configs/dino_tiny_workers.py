# dino_tiny_synthetic with the real configs' loader settings (2 persistent
# workers) and validation after every epoch.
_base_ = './dino_tiny_synthetic.py'
train_dataloader = dict(num_workers=2, persistent_workers=True)
val_dataloader = dict(num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader
train_cfg = dict(val_interval=1)
