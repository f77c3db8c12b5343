"""TimmBackbone: timm feature extractors as mmdet backbones (no downloads)."""
import os.path as osp

import pytest
import timm
import torch

from crossdino.models.backbones import TimmBackbone

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


@pytest.fixture(autouse=True, scope='module')
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_levels_channels_and_strides():
    from mmdet.registry import MODELS
    backbone = MODELS.build(
        dict(type='TimmBackbone', model_name='resnet18', out_indices=(1, 2, 3)))
    assert backbone.out_channels == [64, 128, 256]
    assert backbone.strides == [4, 8, 16]
    outs = backbone(torch.randn(2, 3, 70, 90))
    assert isinstance(outs, tuple) and len(outs) == 3
    for out, c, s in zip(outs, backbone.out_channels, backbone.strides):
        assert out.shape[:2] == (2, c)
        assert out.shape[-2:] == (-(-70 // s), -(-90 // s))


def test_local_checkpoint_is_loaded(tmp_path):
    source = timm.create_model('resnet18', num_classes=7)
    path = str(tmp_path / 'resnet18.pth')
    torch.save(source.state_dict(), path)
    backbone = TimmBackbone('resnet18', out_indices=(2, 3, 4), checkpoint_path=path)
    backbone.init_weights()  # must not re-initialise
    torch.testing.assert_close(backbone.model.layer4[1].conv2.weight,
                               source.layer4[1].conv2.weight)
    torch.testing.assert_close(backbone.model.conv1.weight, source.conv1.weight)


def test_frozen_and_norm_eval():
    backbone = TimmBackbone('resnet18', frozen=True).train()
    assert not any(p.requires_grad for p in backbone.parameters())
    assert not any(m.training for m in backbone.modules() if m is not backbone)
    backbone = TimmBackbone('resnet18', norm_eval=True).train()
    bns = [m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert backbone.model.layer1.training


def test_dino_with_timm_backbone_from_config():
    from mmengine.config import Config
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    register_all_modules()

    cfg = Config.fromfile(osp.join(ROOT, 'tests', 'configs', 'dino_tiny_synthetic.py'))
    cfg.model.backbone = dict(
        type='TimmBackbone', model_name='convnext_atto', out_indices=(1, 2, 3))
    cfg.model.neck.in_channels = [80, 160, 320]
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert model.backbone.out_channels == cfg.model.neck.in_channels
    packed = demo_mm_inputs(
        2, [(3, 64, 96), (3, 56, 80)], num_items=[3, 2], num_classes=10)
    model.train()
    losses = model(**model.data_preprocessor(packed, True), mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.model.stages_1.blocks[0].conv_dw.weight.grad is not None
