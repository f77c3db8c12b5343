"""LSConvChannelMapper: ChannelMapper's output contract, exact equality with
ChannelMapper when no block is built or the residual starts at zero, level
selection, both positions, gradients, and a tiny DINO with the neck swapped."""
import copy
import os.path as osp

import pytest
import torch
from mmdet.models.necks import ChannelMapper
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

import crossdino  # noqa: F401
from crossdino.models.necks import LSConvChannelMapper
from tests.conftest import padded_det_batch as fake_batch

register_all_modules()

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
TINY_CFG = osp.join(ROOT, 'tests', 'configs', 'dino_tiny_synthetic.py')
IN_CH = [4, 6, 8]
SHAPES = [(9, 10), (5, 5), (3, 2)]  # odd/even, down to 2 columns
BASE = dict(in_channels=IN_CH, out_channels=8, kernel_size=1,
            norm_cfg=dict(type='GN', num_groups=4), num_outs=4)
LS = dict(kernel_size=5, extend_scope=1.0)


def inputs(bs=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(bs, c, h, w, generator=g)
                 for c, (h, w) in zip(IN_CH, SHAPES))


def build(cls, seed=0, **kw):
    torch.manual_seed(seed)
    m = cls(**{**BASE, **kw})
    m.init_weights()
    return m


def mapper_and_lsconv(**kw):
    ref = build(ChannelMapper)
    neck = build(LSConvChannelMapper, seed=1, **kw)
    missing, unexpected = neck.load_state_dict(ref.state_dict(),
                                               strict=False)
    assert not unexpected and all(k.startswith('lsconvs.') for k in missing)
    return ref, neck


@pytest.mark.parametrize('position', ['after', 'before'])
def test_output_contract(position):
    neck = build(LSConvChannelMapper, lsconv=LS, lsconv_position=position,
                 zero_init_residual=False)
    outs = neck(inputs())
    assert isinstance(outs, tuple) and len(outs) == 4
    assert [o.shape for o in outs] == [(2, 8, 9, 10), (2, 8, 5, 5),
                                       (2, 8, 3, 2), (2, 8, 2, 1)]
    widths = [b.in_channels for b in neck.lsconvs.values()]
    assert widths == ([8, 8, 8] if position == 'after' else IN_CH)


@pytest.mark.parametrize('kw', [dict(lsconv=None), dict(lsconv_levels=[])])
def test_no_block_is_channel_mapper(kw):
    ref, neck = mapper_and_lsconv(**kw)
    assert len(neck.lsconvs) == 0
    assert neck.state_dict().keys() == ref.state_dict().keys()
    x = inputs()
    for a, b in zip(ref(x), neck(x)):
        torch.testing.assert_close(b, a, rtol=0, atol=0)


@pytest.mark.parametrize('position', ['after', 'before'])
def test_zero_init_residual_starts_as_channel_mapper(position):
    ref, neck = mapper_and_lsconv(lsconv=LS, lsconv_position=position)
    assert neck.lsconvs['0'].fuse.weight.abs().max() == 0
    x = inputs()
    for a, b in zip(ref(x), neck(x)):
        torch.testing.assert_close(b, a, rtol=0, atol=0)


def test_only_selected_levels_change():
    ref, neck = mapper_and_lsconv(lsconv=LS, lsconv_levels=[1],
                                  zero_init_residual=False)
    assert list(neck.lsconvs.keys()) == ['1']
    x = inputs()
    outs_ref, outs = ref(x), neck(x)
    torch.testing.assert_close(outs[0], outs_ref[0], rtol=0, atol=0)
    torch.testing.assert_close(outs[2], outs_ref[2], rtol=0, atol=0)
    # the extra level reads the raw last input ('after'): unchanged too
    torch.testing.assert_close(outs[3], outs_ref[3], rtol=0, atol=0)
    assert (outs[1] - outs_ref[1]).abs().max() > 1e-3
    # residual: the block's output is exactly what was added
    proj = neck.convs[1](x[1])
    torch.testing.assert_close(outs[1], proj + neck.lsconvs['1'](proj))


def test_gradients_reach_offset_convs():
    neck = build(LSConvChannelMapper, lsconv=LS, zero_init_residual=False)
    sum(o.pow(2).sum() for o in neck(inputs())).backward()
    for key, block in neck.lsconvs.items():
        for morph in ('x', 'y'):
            g = block.snake[morph].offset_conv.weight.grad
            assert g is not None and g.abs().sum() > 0, (key, morph)


def test_bad_levels_and_position():
    with pytest.raises(ValueError, match=r'lsconv_levels \[3\] out of range'):
        build(LSConvChannelMapper, lsconv=LS, lsconv_levels=[0, 3])
    with pytest.raises(ValueError, match='lsconv_position must be one of'):
        build(LSConvChannelMapper, lsconv=LS, lsconv_position='middle')


def test_tiny_dino_with_lsconv_neck_loss_forward():
    model_cfg = copy.deepcopy(Config.fromfile(TINY_CFG).model)
    model_cfg.neck.type = 'LSConvChannelMapper'
    model_cfg.neck.lsconv = dict(kernel_size=9, extend_scope=1.0)
    model_cfg.neck.zero_init_residual = False
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    assert isinstance(model.neck, LSConvChannelMapper)
    assert len(model.neck.lsconvs) == len(model_cfg.neck.in_channels)
    batch, samples = fake_batch(num_gts=(3, 1))
    losses = model.train().loss(batch, samples)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    g = model.neck.lsconvs['0'].snake['y'].offset_conv.weight.grad
    assert g is not None and g.abs().sum() > 0
