"""ViCrop-Det test-time cropping: SAE, splatting, window selection, box
mapping and merge on hand-made inputs; the wrapper end to end on a tiny DINO;
``tools/test.py --vicrop``."""
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
                                  image_to_crop_boxes, merge_detections,
                                  merge_detections_cross, score_windows,
                                  select_windows, sliding_windows,
                                  spatial_attention_entropy, splat_attention,
                                  uniform_windows, wrap_config_with_vicrop)
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


# -- windows -------------------------------------------------------------------
def test_select_windows_respects_budget_count_and_overlap():
    torch.manual_seed(0)
    img_hw = (96, 128)
    windows = sliding_windows(img_hw, [0.25, 0.5], stride_ratio=0.25)
    assert (windows[:, 2] <= 128).all() and (windows[:, 3] <= 96).all()
    scores = torch.rand(len(windows))
    valid = torch.rand(len(windows)) > 0.2
    cost = (windows[:, 2] - windows[:, 0]) * (windows[:, 3] - windows[:, 1])
    for budget, k, iou in [(0.5, 10, 0.25), (2.0, 3, 0.0), (None, 5, 0.5),
                           (0.05, 4, 0.3)]:
        px = None if budget is None else budget * 96 * 128
        idx = select_windows(windows, scores, valid, iou, k, cost, px)
        assert len(idx) <= k and valid[idx].all()
        if px is not None:
            assert cost[idx].sum() <= px
        from mmcv.ops import bbox_overlaps
        ov = bbox_overlaps(windows[idx], windows[idx])
        ov.fill_diagonal_(0)
        assert (ov <= iou + 1e-6).all()
        assert torch.equal(scores[idx], scores[idx].sort(descending=True)[0])
    assert len(select_windows(windows, scores, valid, 0.3, 4, cost, 0)) == 0
    assert len(select_windows(windows, scores, valid, 0.3, 0, cost, None)) == 0


def test_score_windows_prefers_salient_high_entropy_window():
    sal = torch.zeros(12, 16)
    sae = torch.zeros(12, 16)
    sal[1:3, 1:3] = 5.0  # salient but certain
    sal[8:10, 10:12] = 5.0  # salient and ambiguous
    sae[8:10, 10:12] = math.log(8)
    windows = torch.tensor([[0., 0., 32., 32.], [64., 56., 112., 96.],
                            [64., 0., 96., 24.]])
    st = score_windows(sal, sae, windows, 8, (96, 128), num_heads=8)
    torch.testing.assert_close(st['mass'], torch.tensor([0.5, 0.5, 0.0]))
    torch.testing.assert_close(st['entropy'], torch.tensor([0.0, 1.0, 0.0]))
    assert st['score'].argmax() == 1


def test_uniform_windows_cover_the_image():
    tiles = uniform_windows((96, 128), (2, 3), 0.2)
    assert tiles.shape == (6, 4)
    assert tiles[:, :2].min() == 0 and tiles[:, 2].max() == 128
    assert tiles[:, 3].max() == 96


# -- boxes ---------------------------------------------------------------------
def test_crop_box_mapping_round_trip():
    boxes = torch.tensor([[40., 30., 50., 44.], [33., 21., 60., 70.]])
    crop = torch.tensor([32., 20., 64., 72.])
    sxy = torch.tensor([2.0, 1.5])
    in_crop = image_to_crop_boxes(boxes, crop, sxy)
    torch.testing.assert_close(in_crop[0], torch.tensor([16., 15., 36., 36.]))
    torch.testing.assert_close(crop_to_image_boxes(in_crop, crop, sxy), boxes)


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


def test_merge_keeps_the_higher_scoring_duplicate():
    a, b = InstanceData(), InstanceData()
    a.bboxes = torch.tensor([[0., 0., 10., 10.], [50., 50., 60., 60.]])
    a.scores, a.labels = torch.tensor([0.4, 0.8]), torch.tensor([1, 2])
    b.bboxes = torch.tensor([[0.5, 0., 10., 10.5], [50., 50., 60., 60.]])
    b.scores, b.labels = torch.tensor([0.9, 0.3]), torch.tensor([1, 3])
    out = merge_detections([a, b], dict(type='nms', iou_threshold=0.5), None)
    assert len(out) == 3  # the class-3 box is no duplicate of the class-2 one
    torch.testing.assert_close(out.scores, torch.tensor([0.9, 0.8, 0.3]))
    torch.testing.assert_close(out.bboxes[0], b.bboxes[0])
    capped = merge_detections([a, b], dict(type='nms', iou_threshold=0.5), 2)
    assert len(capped) == 2


def test_cross_merge_never_suppresses_first_pass_among_itself():
    first = InstanceData()
    first.bboxes = torch.tensor([[0., 0., 10., 10.], [1., 0., 10., 10.],
                                 [50., 50., 60., 60.]])
    first.scores = torch.tensor([0.5, 0.4, 0.7])
    first.labels = torch.tensor([1, 1, 2])
    crop = InstanceData()
    crop.bboxes = torch.tensor([[50., 50.5, 60., 60.], [20., 20., 30., 30.]])
    crop.scores = torch.tensor([0.9, 0.2])
    crop.labels = torch.tensor([2, 0])
    out = merge_detections_cross(first, [crop], 0.5, None)
    # both overlapping first-pass class-1 boxes survive; the better crop box
    # replaces the class-2 one; the new crop box is added
    torch.testing.assert_close(out.scores, torch.tensor([0.9, 0.5, 0.4, 0.2]))
    assert out.labels.tolist() == [2, 1, 1, 0]


# -- end to end ----------------------------------------------------------------
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
    return dict(inputs=imgs,
                data_samples=[DetDataSample(metainfo=m) for m in metas])


def _preds(samples):
    return [s.pred_instances for s in samples]


@pytest.mark.parametrize('mode', ['vicrop', 'uniform'])
def test_wrapper_end_to_end(tiny_dino, mode):
    tta = ViCropTTAModel(tiny_dino,
                         mode=mode,
                         budget=1.0,
                         max_crops=3,
                         min_mass_ratio=0.0,
                         keep_debug=True)
    out = tta.test_step(fake_data())
    assert len(out) == 2
    crops = tta.last_debug['crops']
    assert sum(len(c) for c in crops) > 0
    if mode == 'vicrop':
        assert all(len(c) <= 3 for c in crops)
        assert tta.last_debug['sae'].shape == (2, 12, 16)
        assert (tta.last_debug['sae'] <= math.log(8) + 1e-5).all()
    for s in out:
        h, w = s.metainfo['ori_shape']
        b = s.pred_instances.bboxes
        assert len(b) <= 20  # test_cfg.max_per_img of the tiny DINO
        assert (b >= -1e-4).all() and (b[:, 0::2] <= w + 1e-3).all() and \
            (b[:, 1::2] <= h + 1e-3).all()
    for m in tiny_dino.modules():  # no hook left behind
        assert not m._forward_hooks and not m._forward_pre_hooks


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


def test_config_switches(tmp_path):
    cfg = Config.fromfile(TINY_CFG)
    cfg.vicrop = dict(budget=0.25, max_crops=2)
    wrapped = wrap_config_with_vicrop(copy.deepcopy(cfg))
    assert wrapped.model.type == 'ViCropTTAModel'
    assert wrapped.model.module.type == 'DINO' and wrapped.model.budget == 0.25
    again = wrap_config_with_vicrop(copy.deepcopy(wrapped), mode='uniform')
    assert again.model.module.type == 'DINO' and again.model.mode == 'uniform'
    tta_cfg = Config.fromfile(TINY_CFG)
    tta_cfg.tta_model = dict(type='ViCropTTAModel', max_crops=1)
    assert wrap_config_with_vicrop(tta_cfg).model.max_crops == 1


def test_test_tool_with_vicrop(tiny_dino, synthetic_root, tmp_path):
    ckpt = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=tiny_dino.state_dict(), meta=dict()), ckpt)
    opts = data_root_options(synthetic_root)
    opts['vicrop.budget'] = 1.0
    opts['vicrop.min_mass_ratio'] = 0.0
    proc = run_tool([
        PYTHON, 'tools/test.py', TINY_CFG, ckpt, '--vicrop', '--work-dir',
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


def test_crop_num_queries(tiny_dino):
    kw = dict(budget=1.0, max_crops=2, min_mass_ratio=0.0)
    full = _preds(ViCropTTAModel(tiny_dino, **kw).test_step(fake_data()))
    same = _preds(
        ViCropTTAModel(tiny_dino, crop_num_queries=20,
                       **kw).test_step(fake_data()))
    for p, o in zip(full, same):  # all 20 queries (swapped in): the same
        assert torch.equal(p.bboxes, o.bboxes)
    # 1 query x 10 classes < max_per_img 20: the head's top-k is capped
    one = ViCropTTAModel(tiny_dino, crop_num_queries=1, **kw)
    assert len(one.test_step(fake_data())) == 2
    assert tiny_dino.bbox_head.test_cfg['max_per_img'] == 20
    emb = tiny_dino.query_embedding
    calls = []
    det = tiny_dino
    hook = det.decoder.register_forward_pre_hook(
        lambda m, args, kwargs: calls.append(
            (det.num_queries, kwargs['query'].shape[1],
             torch.equal(kwargs['query'][0], emb.weight[:det.num_queries]))),
        with_kwargs=True)
    try:
        fewer = ViCropTTAModel(tiny_dino, crop_num_queries=5, **kw)
        out = fewer.test_step(fake_data())
    finally:
        hook.remove()
    # first pass with all 20 queries, second pass with the first 5
    assert [c[:2] for c in calls] == [(20, 20), (5, 5)] and calls[1][2]
    assert tiny_dino.num_queries == 20 and tiny_dino.query_embedding is emb
    assert len(out) == 2
    # fewer queries also mean less padding for the two-stage top-k
    shapes = torch.tensor([[12, 16], [6, 8]])
    assert fewer.min_crop_area(shapes, (96, 128)) == math.ceil(
        1.05 * 5 * 96 * 128 / 240)
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
