# DINO-CLAP-Strip-T (Cross-DINO, Tables I and III): DINO-4scale with the
# CLAP-Strip-T backbone (see clap_strip_t_delta.py for the weights).
_base_ = ['./dino-4scale_r50.py', './clap_strip_t_delta.py']
model = _base_.clap_strip_t
