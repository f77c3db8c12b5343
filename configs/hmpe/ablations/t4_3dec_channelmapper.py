# DINO + HMPE with 3 decoder layers (Table 4's depth) on DINO's ChannelMapper
# neck: the heatmap parts alone, without Linear-Snake Conv (for the cost
# split in tools/benchmarks/benchmark_hmpe.py).
_base_ = '../dino-4scale_r50_visdrone_hmpe_3dec.py'

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
