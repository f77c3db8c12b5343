# Conditional DETR-R50 (mmdet 3.3's conditional-detr_r50_8xb2-50e_coco model)
# on VisDrone2019-DET with the shared 12-epoch AdamW recipe.
_base_ = './detr_r50_visdrone.py'

model = dict(
    type='ConditionalDETR',
    num_queries=300,
    decoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(
                _delete_=True,
                embed_dims=256,
                num_heads=8,
                attn_drop=0.1,
                cross_attn=False),
            cross_attn_cfg=dict(
                _delete_=True,
                embed_dims=256,
                num_heads=8,
                attn_drop=0.1,
                cross_attn=True))),
    bbox_head=dict(
        type='ConditionalDETRHead',
        loss_cls=dict(
            _delete_=True,
            type='FocalLoss',
            use_sigmoid=True,
            gamma=2.0,
            alpha=0.25,
            loss_weight=2.0)),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='FocalLossCost', weight=2.0),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])),
    # the metric counts up to 1500 per image; the head can return 3000
    # (top-k over 300 queries x 10 classes)
    test_cfg=dict(max_per_img=1500))
