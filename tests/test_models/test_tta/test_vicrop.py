"""ViCrop-Det test-time cropping: SAE, splatting and attention capture on
hand-made inputs; crop boxes back in original-image coordinates through a
stub detector; the wrapper end to end on a tiny DINO in every mode;
``tools/test.py`` with a ``vicrop`` config."""
import copy
import math
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmcv.ops import MultiScaleDeformableAttention
from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.structures import InstanceData

import crossdino  # noqa: F401
from crossdino.models.tta import (DecoderAttentionRecorder, ViCropTTAModel,
                                  border_cut_mask, crop_to_image_boxes,
                                  image_to_crop_boxes,
                                  spatial_attention_entropy, splat_attention,
                                  wrap_config_with_vicrop)
from tests.conftest import (PYTHON, TINY_CFG, data_root_options,
                            format_cfg_options, run_tool)

register_all_modules()


# -- SAE and splatting -------------------------------------------------------
def test_sae_uniform_heads_is_log_h_and_one_hot_is_zero():
    num_heads = 8
    uniform = torch.full((1, num_heads, 3, 4), 0.5)
    sae, sal = spatial_attention_entropy(uniform)
    torch.testing.assert_close(sae, torch.full((1, 3, 4), math.log(num_heads)))
    torch.testing.assert_close(sal, torch.full((1, 3, 4), 4.0))
    sae_n, _ = spatial_attention_entropy(uniform, normalize=True)
    torch.testing.assert_close(sae_n, torch.ones(1, 3, 4))
    one_hot = torch.zeros(1, num_heads, 3, 4)
    one_hot[:, 2] = 0.7
    sae, _ = spatial_attention_entropy(one_hot)
    assert sae.abs().max() < 1e-6
    empty, _ = spatial_attention_entropy(torch.zeros(1, num_heads, 2, 2))
    assert torch.equal(empty, torch.zeros(1, 2, 2))


def test_splat_shape_and_mass_conservation():
    g = torch.Generator().manual_seed(0)
    bs, nl, nq, nh, n = 2, 3, 5, 4, 16
    loc = torch.rand(bs, nl, nq, nh, n, 2, generator=g) * 1.4 - 0.2  # some out
    w = torch.rand(bs, nl, nq, nh, n, generator=g)
    qw = torch.rand(bs, nq, generator=g)
    maps = splat_attention(loc, w, (6, 7), qw[:, None])
    assert maps.shape == (bs, nh, 6, 7)
    assert (maps >= 0).all()
    expect = (w * qw[:, None, :, None, None]).sum((1, 2, 4))  # (bs, nh)
    torch.testing.assert_close(maps.sum((-1, -2)), expect)


def test_splat_lands_on_the_right_cell():
    loc = torch.tensor([0.5625, 0.375]).view(1, 1, 1, 1, 2)  # x, y
    maps = splat_attention(loc, torch.ones(1, 1, 1, 1), (4, 8))
    assert maps[0, 0, 1,
                4] == 1 and maps.sum() == 1  # centre of cell (x=4, y=1)


class _Layer(nn.Module):

    def __init__(self):
        super().__init__()
        self.cross_attn = MultiScaleDeformableAttention(embed_dims=32,
                                                        num_heads=4,
                                                        num_levels=2,
                                                        num_points=3,
                                                        batch_first=True)


class _FakeDetr(nn.Module):

    def __init__(self):
        super().__init__()
        self.decoder = nn.Module()
        self.decoder.layers = nn.ModuleList([_Layer(), _Layer()])

    def test_step(self, data):
        raise NotImplementedError('never run: only wrapped')


@pytest.mark.parametrize('ref_dim', [2, 4])
def test_recorder_reproduces_msda_output_and_removes_hooks(ref_dim):
    torch.manual_seed(0)
    det = _FakeDetr().eval()
    attn = det.decoder.layers[1].cross_attn
    nn.init.normal_(attn.sampling_offsets.weight, std=0.1)
    shapes = torch.tensor([[6, 8], [3, 4]])
    start = torch.tensor([0, 48])
    q, pos = torch.randn(2, 5, 32), torch.randn(2, 5, 32)
    value = torch.randn(2, 60, 32)
    ref = torch.rand(2, 5, 2, ref_dim)
    rec = DecoderAttentionRecorder(det, layers=[-1])
    with rec:
        out = attn(query=q,
                   value=value,
                   query_pos=pos,
                   reference_points=ref,
                   spatial_shapes=shapes,
                   level_start_index=start)
    assert len(rec.records) == 1
    loc, w = rec.sampling()  # (bs, 1, nq, H, L*P, 2)
    assert loc.shape == (2, 1, 5, 4, 6, 2) and w.shape == (2, 1, 5, 4, 6)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 1, 5, 4))
    v = attn.value_proj(value).view(2, 60, 4, 8)
    again = multi_scale_deformable_attn_pytorch(
        v, shapes, loc[:, 0].view(2, 5, 4, 2, 3, 2), w[:,
                                                       0].view(2, 5, 4, 2, 3))
    torch.testing.assert_close(attn.output_proj(again) + q, out)
    for m in (attn, attn.sampling_offsets, attn.attention_weights):
        assert not m._forward_hooks and not m._forward_pre_hooks


# -- end to end ----------------------------------------------------------------
# -- crop boxes back in original-image coordinates -------------------------
def test_crop_box_mapping_round_trip():
    boxes = torch.tensor([[40., 30., 50., 44.], [33., 21., 60., 70.]])
    offset = torch.tensor([32., 20.])
    sxy = torch.tensor([2.0, 1.5])
    in_crop = image_to_crop_boxes(boxes, offset, sxy)
    torch.testing.assert_close(in_crop[0], torch.tensor([16., 15., 36., 36.]))
    torch.testing.assert_close(crop_to_image_boxes(in_crop, offset, sxy),
                               boxes)


def test_border_cut_boxes_dropped_only_on_interior_borders():
    crop = torch.tensor([0., 20., 64., 72.])  # left edge is the image edge
    boxes = torch.tensor([
        [0., 30., 10., 40.],  # on the image border: keep
        [20., 20.5, 30., 30.],  # top border cut
        [50., 30., 64., 40.],  # right border cut
        [20., 30., 30., 40.]
    ])  # inside: keep
    cut = border_cut_mask(boxes, crop, (96, 128), tol=1.0)
    assert cut.tolist() == [False, True, True, False]


class _StubDetector(nn.Module):
    """First pass: one box in original pixels. Crop pass: one box at
    (15, 30, 45, 60) in crop pixels per crop. Records every crop batch."""

    def __init__(self):
        super().__init__()
        self.data_preprocessor = MODELS.build(
            dict(type='DetDataPreprocessor', mean=[10., 20., 30.],
                 std=[2., 4., 8.], bgr_to_rgb=True))
        self.batches = []

    def test_step(self, data):
        data = self.data_preprocessor(data, False)
        return self.predict(data['inputs'], data['data_samples'])

    def predict(self, inputs, samples, rescale=True):
        first = rescale
        if not first:
            self.batches.append((inputs.clone(), samples))
        for s in samples:
            box = [150., 60., 170., 80.] if first else [15., 30., 45., 60.]
            s.pred_instances = InstanceData(
                bboxes=torch.tensor([box]), scores=torch.tensor([0.9]),
                labels=torch.tensor([1]))
        return samples


def _stub_image(tmp_path):
    """A 100x200 (h x w) BGR image with a pixel pattern, on disk."""
    import mmcv
    import numpy as np
    yy, xx = np.mgrid[:100, :200]
    img = np.stack([xx % 251, yy * 2, (xx + 3 * yy) % 256], -1)
    path = str(tmp_path / 'img.png')
    mmcv.imwrite(img.astype(np.uint8), path)
    return img.astype(np.uint8), path


def _stub_batch(stub, path):
    """The image resized by 0.5 to 50x100, as a test pipeline gives it."""
    import mmcv
    img = mmcv.imread(path)
    small = mmcv.imresize(img, (100, 50))
    sample = DetDataSample(metainfo=dict(img_path=path, img_id=3,
                                         ori_shape=(100, 200),
                                         img_shape=(50, 100),
                                         scale_factor=(0.5, 0.5)))
    return dict(inputs=[torch.from_numpy(small).permute(2, 0, 1)],
                data_samples=[sample])


@pytest.mark.parametrize('source', ['original', 'input'])
def test_crop_boxes_return_in_original_coordinates(tmp_path, source):
    import mmcv
    img, path = _stub_image(tmp_path)
    stub = _StubDetector()
    # two 50x50 tiles of the 50x100 input at x 0 and 50, each resized x3 to
    # 150x150 crop pixels = 1.5 crop px per original px
    tta = ViCropTTAModel(stub, mode='uniform', slice_grid=(1, 2),
                         overlap_ratio=0.0, crop_scale=3.0, budget=None,
                         crop_source=source, max_crops_per_forward=1)
    out = tta.test_step(_stub_batch(stub, path))[0].pred_instances
    assert len(stub.batches) == 2  # one crop per forward
    assert all(b.shape == (1, 3, 150, 150) for b, _ in stub.batches)
    # (15, 30, 45, 60) / 1.5 + offset (0 | 100, 0), and the first-pass box
    expect = {(150., 60., 170., 80.), (10., 20., 30., 40.),
              (110., 20., 130., 40.)}
    assert {tuple(b) for b in out.bboxes.tolist()} == expect
    if source == 'original':
        # the crop pass saw the original's pixels, resized and normalised
        # by the detector's own preprocessor (BGR -> RGB, mean, std)
        ref = mmcv.imresize(img[:, 100:200], (150, 150),
                            interpolation='bilinear')
        ref = torch.from_numpy(ref[..., ::-1].copy()).permute(2, 0, 1)
        ref = (ref.float() - torch.tensor([10., 20., 30.])[:, None, None]) \
            / torch.tensor([2., 4., 8.])[:, None, None]
        torch.testing.assert_close(stub.batches[1][0][0], ref)


def test_budget_counts_crop_pixels(tmp_path):
    _, path = _stub_image(tmp_path)
    stub = _StubDetector()
    # each 150x150 crop costs 22500 / 5000 = 4.5 first-pass images
    for budget, crops in [(4.4, 0), (4.5, 1), (8.9, 1), (9.0, 2)]:
        tta = ViCropTTAModel(stub, mode='uniform', slice_grid=(1, 2),
                             overlap_ratio=0.0, crop_scale=3.0,
                             budget=budget, keep_debug=True)
        tta.test_step(_stub_batch(stub, path))
        assert len(tta.last_debug['crops'][0]) == crops
        assert tta.last_debug['crop_cost'][0].sum() == 22500 * crops
    stub.data_preprocessor.pad_size_divisor = 32  # 150 -> 160: padding paid
    tta = ViCropTTAModel(stub, mode='uniform', slice_grid=(1, 2),
                         overlap_ratio=0.0, crop_scale=3.0, budget=9.0,
                         keep_debug=True)
    tta.test_step(_stub_batch(stub, path))
    assert tta.last_debug['crop_cost'][0].tolist() == [160 * 160]


def test_slice_size_is_in_original_pixels(tmp_path):
    """SAHI's slice_height / slice_width: 60x80 tiles of the 100x200
    original are 30x40 tiles of the 50x100 input (scale factor 0.5), as few
    per axis as overlap by >= 20 % (2 rows: 50 = 30 + 20 at 1/3 overlap;
    3 columns: 100 = 40 + 2 x 30), and crops cut from the original cover
    them."""
    _, path = _stub_image(tmp_path)
    stub = _StubDetector()
    tta = ViCropTTAModel(stub, mode='uniform', slice_size=(60, 80),
                         overlap_ratio=0.2, crop_scale=1.0, budget=None,
                         keep_debug=True)
    tta.test_step(_stub_batch(stub, path))
    crops = tta.last_debug['crops'][0]
    assert len(crops) == 6
    assert ((crops[:, 3] - crops[:, 1]) == 30).all()
    assert ((crops[:, 2] - crops[:, 0]) == 40).all()
    assert sorted({int(x) for x in crops[:, 0]}) == [0, 30, 60]
    assert sorted({int(y) for y in crops[:, 1]}) == [0, 20]
    with pytest.raises(ValueError, match='excludes slice_grid'):
        ViCropTTAModel(stub, mode='uniform', slice_size=(60, 80),
                       slice_grid=(2, 2))
    with pytest.raises(ValueError, match=r'\(h, w\) >= 1 pixels'):
        ViCropTTAModel(stub, mode='uniform', slice_size=(0, 80))


def test_oracle_reads_ground_truth_in_original_pixels(tmp_path):
    _, path = _stub_image(tmp_path)
    stub = _StubDetector()
    data = _stub_batch(stub, path)
    # an object at original x 120..140 lies in the right tile (input x
    # 50..100); read as input pixels it would lie in neither
    data['data_samples'][0].gt_instances = InstanceData(
        bboxes=torch.tensor([[120., 20., 140., 40.]]),
        labels=torch.tensor([4]))
    tta = ViCropTTAModel(stub, mode='oracle', window_ratios=((1.0, 0.5), ),
                         window_stride_ratio=1.0, budget=None,
                         keep_debug=True)
    tta.test_step(data)
    assert tta.last_debug['crops'][0].tolist() == [[50., 0., 100., 50.]]


def test_input_crops_keep_boxes_on_the_image_edge(tmp_path):
    # 480 x 360 resized to 1067 x 800: x1 / scale_factor falls an ulp short
    # of 480, which must still count as the image edge (nothing cut there)
    stub = _StubDetector()
    sample = DetDataSample(metainfo=dict(
        img_id=0, ori_shape=(360, 480), img_shape=(800, 1067),
        scale_factor=(1067 / 480, 800 / 360)))
    tta = ViCropTTAModel(stub, mode='uniform', slice_grid=(1, 1),
                         crop_scale=1.0, budget=None, crop_source='input')
    inputs = torch.zeros(1, 3, 800, 1067)
    windows = [torch.tensor([[0., 0., 1067., 800.]])]
    (_, _, owners), = tta.cut_crops(inputs, [sample], windows, 0)
    _, offset, sxy, window = owners[0]
    assert window.tolist() == [0.0, 0.0, 480.0, 360.0]
    boxes = crop_to_image_boxes(torch.tensor([[1000., 700., 1067., 800.]]),
                                offset, sxy)
    assert not border_cut_mask(boxes, window, (360, 480), 2.0).any()


def test_acs_free_reads_the_configured_heads():
    det = _FakeDetr()  # 2 decoder layers x 4 heads
    tta = ViCropTTAModel(det, mode='uniform', acs_free=dict(heads=[[-1, 2]]))
    w = torch.full((1, 2, 3, 4, 6), 1 / 6)  # (bs, layers, nq, heads, L*P)
    w[0, 1, :, 2] = torch.tensor([1., 0, 0, 0, 0, 0])  # layer 1, head 2
    w[0, 1, 2, 2] = torch.tensor([.5, .5, 0, 0, 0, 0])

    class _Rec:
        attn_modules = list(range(2))
        box_preds = torch.tensor([[[.5, .5, .2, .2], [.1, .1, .1, .1],
                                   [.8, .8, .1, .1]]])

        def sampling(self):
            return None, w

    # detections of a 200x100 input shown at 400x200: boxes / 2 / (200, 100)
    # are the normalised (.75, .75, .85, .85) and (.4, .4, .6, .6)
    sample = DetDataSample(metainfo=dict(img_shape=(100, 200),
                                         scale_factor=(0.5, 0.5)))
    sample.pred_instances = InstanceData(bboxes=torch.tensor(
        [[300., 150., 340., 170.], [160., 80., 240., 120.]]))
    ent, = tta.detection_entropy(_Rec(), [sample])
    # query 2 (half on two points) then query 0 (one point); every other
    # head is uniform (entropy 1)
    torch.testing.assert_close(ent, torch.tensor([math.log(2) / math.log(6),
                                                  0.0]))
    with pytest.raises(ValueError, match=r'\[0, 4\] is not a \[layer, head\]'):
        ViCropTTAModel(det, mode='uniform', acs_free=dict(heads=[[0, 4]]))
    with pytest.raises(ValueError, match='union'):
        ViCropTTAModel(det, mode='uniform', merge_method='nmm',
                       acs_free=dict(heads=None))


def test_a_changed_file_is_an_error_that_names_it(tmp_path):
    import mmcv
    import numpy as np
    _, path = _stub_image(tmp_path)
    stub = _StubDetector()
    data = _stub_batch(stub, path)
    mmcv.imwrite(np.zeros((10, 10, 3), np.uint8), path)
    tta = ViCropTTAModel(stub, mode='uniform', slice_grid=(1, 2),
                         budget=None)
    with pytest.raises(ValueError, match=r'img\.png is 10x10 but .* 200x100'):
        tta.test_step(data)


def test_settings_fail_at_build_time():
    stub = _StubDetector()
    with pytest.raises(TypeError, match='merge_method'):
        ViCropTTAModel(stub, merge='cross')
    with pytest.raises(TypeError, match="unknown setting 'budgett'"):
        ViCropTTAModel(stub, budgett=1)
    with pytest.raises(ValueError, match='probe must be one of'):
        ViCropTTAModel(stub, mode='uniform', probe='gradcam')
    # a detector without deformable decoder cross-attention (e.g. the
    # ENACT DETRs) fails when the wrapper is built, not at the first batch
    with pytest.raises(TypeError, match='not a DETR-family detector'):
        ViCropTTAModel(stub, mode='vicrop')
    det = _FakeDetr()
    det.decoder.layers[0].cross_attn = nn.MultiheadAttention(32, 4)
    with pytest.raises(TypeError, match='not a multi-scale deformable'):
        ViCropTTAModel(det, mode='vicrop')
    with pytest.raises(TypeError, match='not a two-stage DETR'):
        ViCropTTAModel(_FakeDetr(), mode='vicrop', probe='encoder')
    ViCropTTAModel(stub, mode='random')  # needs no attention


# -- end to end on a tiny DINO ---------------------------------------------
@pytest.fixture(scope='module')
def tiny_dino():
    cfg = copy.deepcopy(Config.fromfile(TINY_CFG).model)
    cfg.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


def fake_data(seed=0):
    g = torch.Generator().manual_seed(seed)
    imgs = [(torch.rand(3, 96, 128, generator=g) * 255).to(torch.uint8),
            (torch.rand(3, 80, 120, generator=g) * 255).to(torch.uint8)]
    metas = [
        dict(img_shape=(96, 128),
             ori_shape=(192, 256),
             scale_factor=(0.5, 0.5)),
        dict(img_shape=(80, 120), ori_shape=(80, 120), scale_factor=(1.0, 1.0))
    ]
    samples = []
    for i, m in enumerate(metas):
        s = DetDataSample(metainfo=dict(m, img_id=i))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[10., 10., 14., 13.], [60., 40., 66., 47.]]),
            labels=torch.tensor([1, 2]))
        samples.append(s)
    return dict(inputs=imgs, data_samples=samples)


def _preds(samples):
    return [s.pred_instances for s in samples]


@pytest.mark.parametrize('kw', [
    dict(mode='vicrop', probe='sae'),
    dict(mode='vicrop', probe='encoder', merge_method='cross'),
    dict(mode='vicrop', query_weighting='unconfident', merge_method='nmm',
         match_metric='ios', crop_rescore=dict(first_weight=0.7)),
    dict(mode='uniform'),
    dict(mode='random', acs_free=dict(heads=[[0, 1], [-1, 3]])),
    dict(mode='oracle', detected_thr=1.1),
])
def test_wrapper_end_to_end(tiny_dino, kw):
    tta = ViCropTTAModel(tiny_dino, budget=1.0, min_mass_ratio=0.0,
                         window_ratios=(0.25, ), crop_source='input',
                         keep_debug=True, **kw)
    out = tta.test_step(fake_data())
    assert len(out) == 2
    crops = tta.last_debug['crops']
    assert all(len(c) > 0 for c in crops)
    for c, cost, s in zip(crops, tta.last_debug['crop_cost'], out):
        h, w = s.metainfo['img_shape']
        assert cost.sum() <= 1.0 * h * w  # the budget holds
    if kw.get('probe') == 'sae':
        assert tta.last_debug['sae'].shape == (2, 12, 16)
        assert (tta.last_debug['sae'] <= math.log(8) + 1e-5).all()
    for s in out:
        h, w = s.metainfo['ori_shape']
        b = s.pred_instances.bboxes
        assert len(b) <= 20  # test_cfg.max_per_img of the tiny DINO
        assert (b >= -1e-4).all() and (b[:, 0::2] <= w + 1e-3).all() and \
            (b[:, 1::2] <= h + 1e-3).all()
        assert 'entropy' not in s.pred_instances
    for m in tiny_dino.modules():  # no hook left behind
        assert not m._forward_hooks and not m._forward_pre_hooks


@pytest.mark.parametrize('kind',
                         ['cross-dino', 'hmpe-dino', 'dino-global-enact', 'all'])
def test_every_dino_family_detector(kind):
    from tests.conftest import tiny_detector_cfg
    cfg = tiny_detector_cfg(kind)
    cfg.backbone.init_cfg = None
    torch.manual_seed(0)
    det = MODELS.build(cfg)
    det.init_weights()
    det.eval()
    for probe in ('sae', 'encoder'):
        tta = ViCropTTAModel(det, probe=probe, budget=1.0, min_mass_ratio=0,
                             window_ratios=(0.25, ), crop_source='input',
                             acs_free=dict(heads=[[-1, 0]]), keep_debug=True)
        out = tta.test_step(fake_data())
        assert all(len(c) for c in tta.last_debug['crops'])
        assert all(len(s.pred_instances) for s in out)


@pytest.mark.parametrize(
    'kw', [dict(budget=0),
           dict(max_crops=0),
           dict(min_mass_ratio=1e9)])
def test_no_crop_returns_the_plain_predictions(tiny_dino, kw):
    plain = _preds(tiny_dino.test_step(fake_data()))
    out = _preds(ViCropTTAModel(tiny_dino, **kw).test_step(fake_data()))
    for p, o in zip(plain, out):
        for k in ('bboxes', 'scores', 'labels'):
            assert torch.equal(p[k], o[k])


def test_config_settings_live_in_one_place(tmp_path):
    from tools.test import build_cfg, parse_args
    ckpt = tmp_path / 'w.pth'
    ckpt.write_bytes(b'')
    cfg = Config.fromfile(TINY_CFG)
    cfg.vicrop = dict(budget=0.25, max_crops=2)
    wrapped = wrap_config_with_vicrop(copy.deepcopy(cfg))
    assert wrapped.model.type == 'ViCropTTAModel'
    assert wrapped.model.module.type == 'DINO' and wrapped.model.budget == 0.25
    again = wrap_config_with_vicrop(copy.deepcopy(wrapped), mode='uniform')
    assert again.model.module.type == 'DINO' and again.model.mode == 'uniform'
    # --cfg-options vicrop.* takes effect without --vicrop
    args = parse_args([TINY_CFG, str(ckpt), '--work-dir', str(tmp_path),
                       '--cfg-options', 'vicrop.budget=2.0'])
    cfg = build_cfg(args)
    assert cfg.model.type == 'ViCropTTAModel' and cfg.model.budget == 2.0
    plain = build_cfg(parse_args([TINY_CFG, str(ckpt), '--work-dir',
                                  str(tmp_path)]))
    assert plain.model.type == 'DINO'
    assert build_cfg(parse_args([TINY_CFG, str(ckpt), '--vicrop',
                                 '--work-dir', str(tmp_path)
                                 ])).model.type == 'ViCropTTAModel'


def test_test_tool_with_vicrop(tiny_dino, synthetic_root, tmp_path):
    ckpt = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=tiny_dino.state_dict(), meta=dict()), ckpt)
    opts = data_root_options(synthetic_root)
    opts['vicrop.budget'] = 1.0
    opts['vicrop.window_ratios'] = (0.25, )
    opts['vicrop.min_mass_ratio'] = 0.0
    proc = run_tool([
        PYTHON, 'tools/test.py', TINY_CFG, ckpt, '--work-dir',
        str(tmp_path / 'work'), '--out',
        str(tmp_path / 'res.pkl'), '--cfg-options', *format_cfg_options(opts)
    ])
    log = proc.stdout + proc.stderr
    assert 'coco/bbox_mAP' in log and "type='ViCropTTAModel'" in log
    assert osp.isfile(tmp_path / 'res.pkl')


def test_crops_smaller_than_num_queries_tokens_are_padded(tiny_dino):
    # 12x16 crops give fewer encoder tokens than the 20 DINO queries
    tta = ViCropTTAModel(tiny_dino, window_ratios=(0.125, ), crop_scale=1.0,
                         budget=1.0, max_crops=2, min_mass_ratio=0.0,
                         keep_debug=True)
    out = tta.test_step(fake_data())
    assert len(out) == 2 and sum(len(c) for c in tta.last_debug['crops'])
    # the padding is paid from the budget
    min_area = math.ceil(1.05 * 20 * 96 * 128 / (12 * 16 + 6 * 8 + 3 * 4 +
                                                 2 * 2))
    assert tta.last_debug['crop_cost'][0][0] >= min_area


def test_crop_num_queries_uses_a_view_not_the_detector(tiny_dino):
    kw = dict(budget=1.0, max_crops=2, min_mass_ratio=0.0,
              window_ratios=(0.25, ))
    full = _preds(ViCropTTAModel(tiny_dino, **kw).test_step(fake_data()))
    same = _preds(
        ViCropTTAModel(tiny_dino, crop_num_queries=20,
                       **kw).test_step(fake_data()))
    for p, o in zip(full, same):  # all 20 queries: the same
        assert torch.equal(p.bboxes, o.bboxes)
    emb = tiny_dino.query_embedding
    calls = []
    det = tiny_dino
    hook = det.decoder.register_forward_pre_hook(
        lambda m, args, kwargs: calls.append(
            (det.num_queries, kwargs['query'].shape[1],
             torch.equal(kwargs['query'][0], emb.weight[:kwargs['query'].
                                                        shape[1]]),
             det.bbox_head.test_cfg['max_per_img'])),
        with_kwargs=True)
    try:
        fewer = ViCropTTAModel(tiny_dino, crop_num_queries=1, **kw)
        out = fewer.test_step(fake_data())
    finally:
        hook.remove()
    # first pass with all 20 queries, crop pass with the first one; the
    # detector itself never changes (also not during the crop pass)
    # (the two images' crops differ in size: two crop forwards)
    assert [c[1] for c in calls] == [20, 1, 1] and calls[1][2]
    assert all(c[0] == 20 and c[3] == 20 for c in calls)
    assert tiny_dino.query_embedding is emb and len(out) == 2
    # fewer queries also mean less padding for the two-stage top-k
    shapes = torch.tensor([[12, 16], [6, 8]])
    assert fewer.min_crop_area(shapes, (96, 128)) == math.ceil(
        1.05 * 1 * 96 * 128 / 240)
    with pytest.raises(ValueError,
                       match=r'crop_num_queries must be in 1\.\.20'):
        ViCropTTAModel(tiny_dino, crop_num_queries=21)


def test_vis_tool_writes_png(synthetic_root, tmp_path):
    img = osp.join(synthetic_root, 'VisDrone2019-DET-val', 'images',
                   '0000001.jpg')
    out = str(tmp_path / 'vicrop.png')
    run_tool([
        PYTHON, 'tools/analysis_tools/vis_vicrop.py', TINY_CFG, img, '--out',
        out, '--vicrop', 'min_mass_ratio=0.0'
    ])
    assert osp.getsize(out) > 0
