# The paper's Cross-DINO-CLAP-Strip-T for VisDrone2019-DET:
#   python tools/train.py configs/cross_dino_visdrone.py
# (definition: configs/cross_dino/cross-dino-4scale_clap-strip-t_visdrone.py)
_base_ = './cross_dino/cross-dino-4scale_clap-strip-t_visdrone.py'
