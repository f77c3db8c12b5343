# Table VI: DINO-CLAP-Strip-T (no CCTM, no Boost), COCO.
_base_ = '../baselines/dino-4scale_clap-strip-t_8xb2-12e_coco.py'
