# DINO-CLAP-Strip-T on COCO, 12 epochs (Table I/VI): mmdet's DINO-R50 COCO
# recipe with the CLAP-Strip-T backbone.
_base_ = [
    './dino-4scale_r50_8xb2-12e_coco.py',
    '../../_base_/models/clap_strip_t_delta.py'
]
model = _base_.clap_strip_t
