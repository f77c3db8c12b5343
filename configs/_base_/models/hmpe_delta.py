# What HMPE (Zeng, arXiv 2504.13469) changes in a DINO model dict: the
# Linear-Snake Conv neck (Sec. 3.3), a trained per-level heatmap head, the
# heatmap mask filter on the encoder's positional encoding (Eq. 4, 6-7), MOHFE
# (Eq. 5) and HIDQ content queries (Eq. 8-9). Used as
#   _base_ = ['<a DINO config>.py', '<this file>']
#   model = _base_.hmpe_dino
hmpe = dict(
    heatmap_head=dict(
        type='HeatmapHead',
        feat_channels=64,
        class_agnostic=False,
        sigma_ratio=0.09,
        min_sigma=0.5,
        loss_cls=dict(type='GaussianFocalLoss', loss_weight=1.0),
        loss_bbox=dict(type='GaussianFocalLoss', loss_weight=1.0)),
    # HeatmapPositionalEncoding: Eq. 4 gate and Eq. 6 threshold
    mix_lambda=0.5,
    learnable_lambda=False,
    tau=0.3,
    soft=False,
    # one min-max per image over all levels (the paper normalises one map
    # per image; per level, every level's noisiest token would be hot)
    heat_norm='minmax_levels',
    # switches (Table 2): mask filter + MOHFE = "MOHFE"; HIDQ (Eq. 8) = the
    # content of the queries from the mixed heatmap, at the positions DINO's
    # class top-k selects ('heatmap' ranks peaks of H_class instead)
    mask_filter=True,
    mohfe=True,
    query_selection='class',
    hidq_content=True,
    detach_heatmap=False)
hmpe_dino = dict(
    type='HMPEDINO',
    neck=dict(
        type='LSConvChannelMapper',
        lsconv=dict(kernel_size=9, extend_scope=1.0)),
    hmpe=hmpe)
