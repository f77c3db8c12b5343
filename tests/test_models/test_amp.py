"""Every DINO-family detector of the project trains under CPU autocast
(issue 18): bf16 (and fp16 where the CPU has the kernels) gives finite
losses and gradients, and the denoising terms, whose targets do not depend
on the matching, stay within 3% of fp32 (bf16 keeps 8 mantissa bits, about
0.4% per rounding, over a few dozen layers)."""

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

import crossdino  # noqa: F401
from tests.conftest import padded_det_batch, tiny_detector_cfg

register_all_modules()
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16],
                         ids=['bf16', 'fp16'])
@pytest.mark.parametrize(
    'kind', ['dino', 'cross-dino', 'hmpe-dino', 'dino-global-enact'])
def test_autocast_training_step(kind, dtype):
    torch.manual_seed(0)
    model = MODELS.build(tiny_detector_cfg(kind))
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
