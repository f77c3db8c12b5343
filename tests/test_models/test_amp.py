"""Every DINO-family detector of the project trains under CPU autocast
(issue 18): bf16 (and fp16 where the CPU has the kernels) gives finite
losses and gradients, and the denoising terms, whose targets do not depend
on the matching, stay within 3% of fp32 (bf16 keeps 8 mantissa bits, about
0.4% per rounding, over a few dozen layers)."""
import copy
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

import crossdino  # noqa: F401
from tests.conftest import padded_det_batch

register_all_modules()
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CFG = osp.join(ROOT, 'tests', 'configs', 'dino_tiny_synthetic.py')
BOOST = dict(type='BoostLoss', alpha=0.25, beta=0.1, gamma=2.0,
             loss_weight=1.0)


def _cfg(kind):
    cfg = copy.deepcopy(Config.fromfile(TINY_CFG).model)
    if kind == 'cross-dino':
        cfg.update(type='CrossDINO', cctm=dict(type='CCTM'))
        cfg.bbox_head.type = 'CrossDINOHead'
        cfg.bbox_head.loss_cls = BOOST
    elif kind == 'hmpe-dino':
        cfg.update(type='HMPEDINO', hmpe=dict(
            heatmap_head=dict(type='HeatmapHead', feat_channels=16)))
    elif kind == 'dino-global-enact':
        dims = cfg.encoder.layer_cfg.self_attn_cfg.embed_dims
        cfg.update(type='ENACTDINO', global_enact=dict(
            num_levels=1,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=dims, num_heads=4, sigma=1.0),
                ffn_cfg=dict(embed_dims=dims, feedforward_channels=32))))
    return cfg


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16],
                         ids=['bf16', 'fp16'])
@pytest.mark.parametrize(
    'kind', ['dino', 'cross-dino', 'hmpe-dino', 'dino-global-enact'])
def test_autocast_training_step(kind, dtype):
    torch.manual_seed(0)
    model = MODELS.build(_cfg(kind))
    model.init_weights()
    model.train()
    inputs, samples = padded_det_batch()
    torch.manual_seed(1)
    ref = model.loss(inputs, samples)
    try:
        with torch.autocast('cpu', dtype=dtype):
            torch.manual_seed(1)
            got = model.loss(inputs, samples)
    except RuntimeError as err:  # an op without a CPU kernel in this dtype
        if dtype is torch.float16:
            pytest.skip(f'CPU fp16 autocast: {err}')
        raise
    total = sum(v for k, v in got.items() if 'loss' in k)
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    for k in ref:
        assert torch.isfinite(got[k]).all(), k
        if kind == 'cross-dino' and 'loss_cls' in k:
            assert got[k].dtype == torch.float32, k  # Boost runs in fp32
        if 'dn_loss' in k:
            torch.testing.assert_close(got[k].float(), ref[k], rtol=0.03,
                                       atol=0, msg=k)
