# Table VI: DINO-CLAP-Strip-T + CCTM + Boost (= Cross-DINO-CLAP-Strip-T).
_base_ = '../cross-dino-4scale_clap-strip-t_8xb2-12e_coco.py'
