# DINO-R50 on VisDrone, tested with ViCrop-Det (crossdino/models/tta/vicrop.py);
# the same weights as configs/dino/dino-4scale_r50_visdrone.py (training this
# config trains the plain DINO). The settings live in `vicrop` only:
# tools/test.py wraps the model when a config has it, and
# `--cfg-options vicrop.budget=2` changes them.
#   python tools/test.py configs/vicrop/dino-4scale_r50_visdrone_vicrop.py CKPT
_base_ = '../dino/dino-4scale_r50_visdrone.py'

vicrop = dict(
    mode='vicrop',  # controls: 'uniform', 'random', 'oracle' (needs gt)
    probe='sae',  # the paper's decoder-attention entropy (or 'encoder')
    query_weighting='score',
    window_ratios=(0.5, ),  # half the image side...
    crop_scale=2.0,  # ...at 2x: the first pass's canvas, cut from the file
    crop_source='original',
    budget=1.0,  # crop passes process <= 1x the first pass's pixels
    window_iou_thr=0.25,
    min_mass_ratio=1.0,
    merge_method='nms',
    match_metric='iou',
    match_thr=0.5)
