# DINO-CLAP-Strip-T on COCO, 12 epochs (Table I/VI): the R50 recipe with the
# CLAP-Strip-T backbone of configs/dino/dino-4scale_clap-strip-t_visdrone.py.
_base_ = './dino-4scale_r50_8xb2-12e_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='CLAPStripMLP',
        arch='tiny',
        out_indices=(1, 2, 3),
        drop_path_rate=0.1,
        norm_eval=True,
        clap_mode='even',
        init_cfg=dict(
            type='Pretrained', checkpoint='pretrained/strip_mlp_tiny.pth')),
    neck=dict(in_channels=[160, 320, 640]))
