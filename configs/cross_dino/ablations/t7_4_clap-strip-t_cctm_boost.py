# Table VII row 4: + Boost loss, beta 0.1 (= Cross-DINO-CLAP-Strip-T).
_base_ = './t7_3_clap-strip-t_cctm.py'

model = dict(
    bbox_head=dict(
        type='CrossDINOHead',
        loss_cls=dict(_delete_=True, type='BoostLoss', alpha=0.25,
                      beta=0.1, gamma=2.0, loss_weight=1.0)))
