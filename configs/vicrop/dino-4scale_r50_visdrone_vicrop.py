# Test-only: DINO-R50 on VisDrone with ViCrop-Det test-time cropping
# (crossdino/models/tta/vicrop.py). Same weights as
# configs/dino/dino-4scale_r50_visdrone.py:
#   python tools/test.py configs/vicrop/dino-4scale_r50_visdrone_vicrop.py CKPT
# (equivalently: the DINO config with `tools/test.py --vicrop`).
_base_ = '../dino/dino-4scale_r50_visdrone.py'

vicrop = dict(
    mode='vicrop',  # 'uniform' = SAHI-style slicing baseline
    layers=None,  # all decoder layers
    query_weighting='score',
    topk_queries=None,
    grid_stride=8,
    window_ratios=(0.25, ),
    crop_scale=2.0,
    budget=0.25,  # crops add <= 25% of the image's pixels
    max_crops=4,
    window_iou_thr=0.25,
    min_mass_ratio=1.0,
    min_entropy=0.0,
    nms=dict(type='nms', iou_threshold=0.5),
    # a 1/4-side crop needs far fewer than 900 queries; cuts the crop pass's
    # fixed decoder cost (+17% instead of +48% latency, README)
    crop_num_queries=300)
model = dict(_delete_=True,
             type='ViCropTTAModel',
             module=_base_.model,
             **vicrop)
