# Table VII row 2: + CLAP-Strip-T backbone (DINO-CLAP-Strip-T).
_base_ = '../../dino/dino-4scale_clap-strip-t_visdrone.py'
