# Table X row 3: Boost beta = 0.10 (the main VisDrone model).
_base_ = '../cross-dino-4scale_clap-strip-t_visdrone.py'
