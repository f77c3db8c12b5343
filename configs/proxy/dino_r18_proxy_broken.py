# Proxy benchmark sanity check, deliberately broken: the decoder's box
# losses (L1 and GIoU) at a fifth of their weight. The benchmark must see it.
_base_ = './dino_r18_proxy.py'

model = dict(bbox_head=dict(loss_bbox=dict(loss_weight=1.0),
                            loss_iou=dict(loss_weight=0.4)))
