# HMPE Table 2, row "Baseline": DINO (HMPEDINO with hmpe=None is mmdet's DINO)
# with DINO's ChannelMapper neck instead of the Linear-Snake one.
_base_ = './t2_2_lsconv.py'

model = dict(
    neck=dict(
        _delete_=True,
        type='ChannelMapper',
        in_channels=[512, 1024, 2048],
        kernel_size=1,
        out_channels=256,
        act_cfg=None,
        norm_cfg=dict(type='GN', num_groups=32),
        num_outs=4))
