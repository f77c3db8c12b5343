# Proxy benchmark, decoder depth (HMPE Table 4 at proxy scale): the proxy
# DINO with 2 decoder layers instead of 3, fine-tuned from the shared DINO
# cut to its first 2 layers (tools/model_converters/detr_decoder_depth.py;
# compare.py makes the file).
_base_ = './dino_r18_proxy.py'
model = dict(decoder=dict(num_layers=2))
load_from = 'work_dirs/proxy_pretrain/epoch_8_2dec.pth'
