# Proxy benchmark: DINO with bounded denoising (issue 18): at most 50 objects
# of an image enter the denoising queries (a random subset each step).
# CrossDINO without a CCTM is DINO plus the bound; CrossDINOHead is DINOHead
# plus the bounded denoising targets.
_base_ = './dino_r18_proxy.py'

model = dict(
    type='CrossDINO',
    bbox_head=dict(type='CrossDINOHead'),
    dn_cfg=dict(max_gts_per_image=50))
