"""tools/model_converters/detr_decoder_depth.py: a trained two-stage DETR
cut to fewer decoder layers loads strictly into the shallower model, with
the encoder's proposal branch where that model reads it."""

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

import crossdino  # noqa: F401
from tests.conftest import PYTHON, load_tool, run_tool, tiny_detector_cfg

register_all_modules()
depth = load_tool('tools/model_converters/detr_decoder_depth.py')


def build(kind, num_layers):
    cfg = tiny_detector_cfg(kind)
    cfg.decoder.num_layers = num_layers
    torch.manual_seed(num_layers)
    model = MODELS.build(cfg)
    model.init_weights()  # e.g. level_embed is torch.empty until then
    # mmdet starts every prediction branch as a copy of one (and the last
    # box layer at 0): make them differ, or a wrong mapping goes unseen
    g = torch.Generator().manual_seed(100 + num_layers)
    with torch.no_grad():
        for p in model.bbox_head.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    cls = model.bbox_head.cls_branches
    assert not torch.equal(cls[-1].weight, cls[-2].weight)
    return model


@pytest.mark.parametrize('kind', ['dino', 'hmpe-dino'])
def test_cut_loads_strictly_and_keeps_the_encoder_branch(kind):
    deep, shallow = build(kind, 3), build(kind, 2)
    sd = deep.state_dict()
    cut = depth.cut_decoder(sd, 2)
    shallow.load_state_dict(cut, strict=True)
    for part in ('cls', 'reg'):
        # the encoder's proposals: branch 3 of 3 layers -> branch 2 of 2
        enc_old = getattr(deep.bbox_head, f'{part}_branches')[3]
        enc_new = getattr(shallow.bbox_head, f'{part}_branches')[2]
        for a, b in zip(enc_old.parameters(), enc_new.parameters()):
            assert torch.equal(a, b)
        for i in range(2):  # decoder layers 0 and 1 keep theirs
            old = getattr(deep.bbox_head, f'{part}_branches')[i]
            new = getattr(shallow.bbox_head, f'{part}_branches')[i]
            assert all(torch.equal(a, b) for a, b in
                       zip(old.parameters(), new.parameters()))
    assert torch.equal(deep.decoder.layers[1].ffn.layers[1].weight,
                       shallow.decoder.layers[1].ffn.layers[1].weight)
    assert not any(k.startswith('decoder.layers.2.') for k in cut)


@pytest.mark.parametrize('kind', ['dino', 'hmpe-dino'])
def test_cut_model_predicts_what_the_deep_one_does_at_that_layer(kind):
    """The K-layer model is the deep model stopped after layer K: same
    proposals (the encoder's branch selects them), same per-layer outputs
    (eval mode, no denoising queries)."""
    from tests.conftest import padded_det_batch
    deep, shallow = build(kind, 3), build(kind, 2)
    shallow.load_state_dict(depth.cut_decoder(deep.state_dict(), 2))
    inputs, samples = padded_det_batch()
    deep.eval(), shallow.eval()
    batch = deep.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), False)
    with torch.no_grad():
        deep_cls, deep_box = deep(**batch, mode='tensor')
        cls, box = shallow(**batch, mode='tensor')
    assert cls.shape[0] == 2 and deep_cls.shape[0] == 3
    torch.testing.assert_close(cls, deep_cls[:2])
    torch.testing.assert_close(box, deep_box[:2])


def test_bad_depths_and_layouts_are_named():
    sd = build('dino', 3).state_dict()
    with pytest.raises(ValueError, match=r'ckpt\.pth: --num-layers must be '
                       r'in \[1, 2\] \(it has 3 decoder layers\), got 3'):
        depth.cut_decoder(sd, 3, 'ckpt.pth')
    # a one-stage head (no encoder branch) is refused, not mis-mapped
    one_stage = {k: v for k, v in sd.items()
                 if not k.startswith(('bbox_head.cls_branches.3.',
                                      'bbox_head.reg_branches.3.'))}
    with pytest.raises(ValueError, match=r'ckpt\.pth: expected bbox_head '
                       r'branches 0\.\.3 for 3 decoder layers and the '
                       r'encoder .*found \[0, 1, 2\]'):
        depth.cut_decoder(one_stage, 2, 'ckpt.pth')
    with pytest.raises(ValueError, match='x.pth: no decoder.layers'):
        depth.cut_decoder({'backbone.w': torch.zeros(1)}, 1, 'x.pth')


def test_cli_round_trip_and_corrupt_file(tmp_path):
    src, dst = tmp_path / 'deep.pth', tmp_path / 'out' / 'cut.pth'
    torch.save(dict(state_dict=build('dino', 3).state_dict(),
                    meta=dict(epoch=8)), src)
    depth.main([str(src), str(dst), '--num-layers', '1'])
    saved = torch.load(dst, weights_only=True)
    assert saved['meta'] == dict(epoch=8, decoder_layers_from=str(src))
    build('dino', 1).load_state_dict(saved['state_dict'], strict=True)
    bad = tmp_path / 'bad.pth'  # an interrupted save
    bad.write_bytes(src.read_bytes()[:len(src.read_bytes()) // 2])
    proc = run_tool([PYTHON, 'tools/model_converters/detr_decoder_depth.py',
                     str(bad), str(dst), '--num-layers', '1'], check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        f'detr_decoder_depth: checkpoint "{bad}" is corrupt or truncated')
    assert 'Traceback' not in proc.stderr
