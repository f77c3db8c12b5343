"""HMPEDINO: hmpe=None is DINO; the mask filter and MOHFE on the encoder
inputs; HIDQ picks the hottest tokens; a tiny DINO+HMPE trains two
iterations (heatmap loss present, grads reach the heatmap head) and
predicts; 3 decoder layers."""
import copy
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

import crossdino  # noqa: F401
from crossdino.models.detectors.hmpe_dino import heat_peaks as heat_peaks_fn
from tests.conftest import padded_det_batch as fake_batch

register_all_modules()

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
TINY_CFG = osp.join(ROOT, 'tests', 'configs', 'dino_tiny_synthetic.py')


def build(cfg, seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def run_loss(model, inputs, samples, seed=1):
    torch.manual_seed(seed)  # DN query noise
    return model.loss(inputs, samples)


def hmpe_cfg(hmpe=dict(), dec_layers=None):
    model = copy.deepcopy(Config.fromfile(TINY_CFG).model)
    model.type = 'HMPEDINO'
    model.hmpe = hmpe
    if dec_layers is not None:
        model.decoder.num_layers = dec_layers
    return model


def test_hmpe_none_equals_dino():
    dino_cfg = copy.deepcopy(Config.fromfile(TINY_CFG).model)
    dino = build(dino_cfg)
    ours = build(hmpe_cfg(hmpe=None))
    ours.load_state_dict(dino.state_dict())
    inputs, samples = fake_batch()
    l_dino = run_loss(dino.train(), inputs, samples)
    l_ours = run_loss(ours.train(), inputs, samples)
    assert l_dino.keys() == l_ours.keys()
    for k in l_dino:
        torch.testing.assert_close(l_ours[k], l_dino[k], rtol=0, atol=0)


def _encoder_inputs(model, heat_value):
    inputs, samples = fake_batch(shapes=((64, 80), (64, 80)))
    feats = model.extract_feat(inputs)
    enc, _ = model.pre_transformer(feats, samples)
    plain = {k: v.clone() for k, v in enc.items() if v is not None}
    h_cls = [torch.full_like(f[:, :10], heat_value) for f in feats]
    h_box = [torch.full_like(f[:, :1], heat_value) for f in feats]
    heat, _ = model.apply_hmpe(enc, h_cls, h_box)
    return feats, enc, plain, heat


def test_mask_filter_all_hot_all_cold_on_encoder_inputs():
    model = build(hmpe_cfg(dict(heat_norm=None, tau=0.3))).eval()
    with torch.no_grad():
        feats, enc, plain, heat = _encoder_inputs(model, 0.8)
        # no padding: all hot is DINO's encoding; MOHFE starts at zero
        assert enc['feat_mask'] is None
        assert torch.equal(enc['feat_pos'], plain['feat_pos'])
        assert torch.equal(enc['feat'], plain['feat'])
        assert heat.shape == enc['feat'].shape[:2]
        torch.testing.assert_close(heat, torch.full_like(heat, 0.8))
        _, enc, plain, _ = _encoder_inputs(model, 0.3)  # tau: cold
        sizes = [f.shape[-2] * f.shape[-1] for f in feats]
        lvl = torch.cat([model.level_embed[i].expand(n, -1)
                         for i, n in enumerate(sizes)])
        assert torch.equal(enc['feat_pos'], lvl.expand_as(enc['feat_pos']))
        # MOHFE adds W [E_class || E_bbox] (Eq. 5) to every token
        torch.nn.init.normal_(model.mohfe['fuse'].weight)
        torch.nn.init.normal_(model.mohfe['fuse'].bias)
        _, enc, plain, _ = _encoder_inputs(model, 0.3)
        h_cls = torch.full((1, 10, 1, 1), 0.3)
        e = torch.cat([model.mohfe['cls'](h_cls),
                       model.mohfe['bbox'](h_cls[:, :1])], 1).flatten()
        added = model.mohfe['fuse'](e)
        assert added.abs().sum() > 0
        torch.testing.assert_close(enc['feat'] - plain['feat'],
                                   added.expand_as(enc['feat']),
                                   rtol=1e-4, atol=1e-4)


def _one_object_heatmaps(model, inputs, samples):
    """Level 0 holds an object (heat 0.9 at one cell); every level holds
    background noise in 0.10-0.12."""
    feats = model.extract_feat(inputs)
    enc, _ = model.pre_transformer(feats, samples)
    g = torch.Generator().manual_seed(0)
    h_box = [0.1 + 0.02 * torch.rand(f[:, :1].shape, generator=g)
             for f in feats]
    h_box[0][:, :, 2, 3] = 0.9
    h_cls = [h.expand(-1, 10, -1, -1).clone() for h in h_box]
    return feats, enc, h_cls, h_box


def test_heat_ranking_reads_raw_peaks_across_levels():
    """The ranked heat stays raw (levels compare): the object's cell is the
    top peak, and the noise peaks of the other levels stay below tau, so
    they are ranked by class score after it, not promoted."""
    model = build(hmpe_cfg(dict(query_selection='heatmap'))).eval()
    inputs, samples = fake_batch(shapes=((64, 80), (64, 80)))
    with torch.no_grad():
        feats, enc, h_cls, h_box = _one_object_heatmaps(model, inputs,
                                                        samples)
        heat, rank = model.apply_hmpe(enc, h_cls, h_box)
    w0 = feats[0].shape[-1]
    assert rank.argmax(1).tolist() == [2 * w0 + 3] * 2
    torch.testing.assert_close(rank.max(1)[0], torch.full((2, ), 0.9))
    assert rank[:, feats[0].shape[-2] * w0:].max() <= 0.12 + 1e-6
    assert (rank <= heat + 1e-6).all()  # peaks are a subset of the heat
    idx = model.select_queries(torch.zeros(2, heat.shape[1], 10), rank)
    assert (idx[:, 0] == 2 * w0 + 3).all()


@pytest.mark.parametrize('heat_norm,hot_levels', [('minmax_levels', [0]),
                                                  ('minmax', [0, 1, 2, 3])])
def test_mask_filter_normalises_jointly_over_levels(heat_norm, hot_levels):
    """Issue 16: per-level min-max makes every level's noisiest token 1, so
    levels without objects still get hot tokens; the joint min-max over an
    image's levels keeps them cold. Padding stays out of the statistics."""
    model = build(hmpe_cfg(dict(heat_norm=heat_norm, tau=0.5))).eval()
    inputs, samples = fake_batch(shapes=((64, 80), (48, 64)))
    with torch.no_grad():
        feats, enc, h_cls, h_box = _one_object_heatmaps(model, inputs,
                                                        samples)
        masks = [m.view(2, *f.shape[-2:]) for m, f in zip(
            enc['feat_mask'].split([f.shape[-2] * f.shape[-1]
                                    for f in feats], 1), feats)]
        raw = [model.positional_encoding.mix(c, b, m, normalize=False)
               for c, b, m in zip(h_cls, h_box, masks)]
        normed = model.normalize_levels(raw, masks)
    hot = [lvl for lvl, n in enumerate(normed) if (n > 0.5).any()]
    assert hot == hot_levels
    for n, m in zip(normed, masks):
        assert (n[:, 0][m] == 0).all()
        assert n.max() <= 1 + 1e-6


def test_heat_peaks_keep_very_tiny_objects_their_queries():
    """Query recall by object size (issue 16). 12 very tiny objects (4 px)
    and 3 large ones (64 px) on a stride-8 level, 20 queries; heatmaps = the
    head's own targets, at full confidence for the large objects and, as a
    trained head is less sure of tiny ones, 0.6 (class) and 0.3 (box) for
    the tiny ones. H_bbox is a plateau of 1 over each large box (about 200
    tokens of H_mixed 0.5, tiny centres 0.45): ranking raw H_mixed (the
    former default) gives every query to the large boxes; ranking the peaks
    of H_class gives every object a query at its centre."""
    from crossdino.models.layers import heatmap_targets
    model = build(hmpe_cfg(dict(query_selection='heatmap'))).eval()
    k = torch.arange(12)
    tiny_xy = torch.stack([k % 4 * 40 + 21., k // 4 * 40 + 141.], 1)
    boxes = torch.cat([
        torch.cat([tiny_xy, tiny_xy + 4], 1),
        torch.tensor([[0., 0., 64., 64.], [96., 0., 160., 64.],
                      [176., 0., 240., 64.]])])
    labels = torch.arange(15) % 10

    def targets(sel):
        n = int(sel.sum())
        return heatmap_targets(boxes[sel], labels[sel],
                               torch.zeros(n).long(),
                               torch.tensor([[256., 256.]]), (256, 256),
                               (32, 32), 10, 0.09, 0.5)[:2]

    is_tiny = torch.arange(15) < 12
    (c_tiny, b_tiny), (c_large, b_large) = targets(is_tiny), targets(~is_tiny)
    h_cls = torch.maximum(0.6 * c_tiny, c_large).clamp(1e-4, 1 - 1e-4)
    h_box = torch.maximum(0.3 * b_tiny, b_large).clamp(1e-4, 1 - 1e-4)
    raw = model.positional_encoding.mix(h_cls, h_box, normalize=False)
    peaks = heat_peaks_fn([h_cls], [None])
    centre = (((boxes[:, 1] + boxes[:, 3]) / 16).long() * 32
              + ((boxes[:, 0] + boxes[:, 2]) / 16).long())

    def recall(score):
        idx = model.select_queries(torch.zeros(1, 1024, 10), score)[0]
        return (idx[:, None] == centre).any(0)

    assert int((raw > 0.49).sum()) > 150  # the plateau
    assert not recall(raw.flatten(1))[:12].any()
    assert recall(peaks).all()


def test_learnable_lambda_without_gradient_path_is_rejected():
    with pytest.raises(ValueError, match='learnable_lambda needs soft=True'):
        build(hmpe_cfg(dict(learnable_lambda=True, hidq_content=False)))
    build(hmpe_cfg(dict(learnable_lambda=True, hidq_content=False,
                        soft=True)))


def test_hidq_picks_hottest_tokens():
    model = build(hmpe_cfg(dict(query_selection='heatmap'))).eval()
    g = torch.Generator().manual_seed(0)
    n = 50
    heat = torch.rand(2, n, generator=g)
    cls = torch.randn(2, n, 10, generator=g) * 5
    idx = model.select_queries(cls, heat)
    assert idx.shape == (2, model.num_queries)
    hottest = heat.argsort(1, descending=True)[:, :model.num_queries]
    assert torch.equal(idx.sort(1)[0], hottest.sort(1)[0])
    # 'product': the 5 hot tokens come first even with low class scores
    model.query_selection = 'product'
    heat = torch.zeros(2, n)
    heat[:, :5] = torch.linspace(0.4, 0.9, 5)
    cls[:, :5] = -10
    idx = model.select_queries(cls, heat)
    assert set(idx[0, :5].tolist()) == set(range(5))
    # the rest is filled by class score among cold tokens
    cold_best = cls[0, 5:].max(-1)[0].argsort(descending=True)[:15] + 5
    assert set(idx[0, 5:].tolist()) == set(cold_best.tolist())
    model.query_selection = 'class'
    idx = model.select_queries(cls, heat)
    assert torch.equal(idx, cls.max(-1)[0].topk(model.num_queries)[1])


def test_hidq_reference_points_from_hottest_tokens():
    """With the proposal regression zeroed, the selected queries' reference
    boxes are DINO's encoder proposals of the hottest tokens, written here by
    hand: cell (y, x) of level l (H x W) is ((x + .5) / W, (y + .5) / H,
    0.05 * 2^l, 0.05 * 2^l), in descending heat."""
    model = build(hmpe_cfg(dict(query_selection='heatmap'))).eval()
    last = model.bbox_head.reg_branches[model.decoder.num_layers][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    shapes = [(4, 5), (2, 3)]
    boxes = torch.tensor([((x + .5) / w, (y + .5) / h, .05 * 2**lvl,
                           .05 * 2**lvl)
                          for lvl, (h, w) in enumerate(shapes)
                          for y in range(h) for x in range(w)])
    g = torch.Generator().manual_seed(1)
    order = torch.randperm(len(boxes), generator=g)  # hottest first
    heat = torch.empty(1, len(boxes))
    heat[0, order] = torch.linspace(1.0, 0.4, len(boxes))  # all above tau
    memory = torch.randn(1, len(boxes), 256, generator=g)
    with torch.no_grad():
        dec_in, head_in = model.pre_decoder(memory, None,
                                            torch.tensor(shapes), heat=heat)
    assert head_in == {}
    torch.testing.assert_close(dec_in['reference_points'][0],
                               boxes[order[:model.num_queries]],
                               rtol=0, atol=1e-6)
    # zero-initialised W'_Q: content queries start as the learned ones
    torch.testing.assert_close(dec_in['query'][0],
                               model.query_embedding.weight)


@pytest.mark.parametrize('mode', ['heatmap', 'product', 'class'])
def test_invalid_proposals_are_never_selected(mode):
    """Issue 16: a hot padded column used to win heat ranking and give
    queries the reference box (1, 1, 1, 1). Padded tokens and border
    proposals (DINO sets them to +inf) must rank last."""
    model = build(hmpe_cfg(dict(query_selection=mode))).eval()
    g = torch.Generator().manual_seed(2)
    shapes = torch.tensor([[6, 8], [3, 4]])
    n = int(shapes.prod(1).sum())
    memory = torch.randn(1, n, 256, generator=g)
    mask = torch.zeros(1, n, dtype=torch.bool)
    mask[0, :48].view(6, 8)[:, 6:] = True  # two padded columns, level 0
    mask[0, 48:].view(3, 4)[:, 3:] = True
    heat = torch.rand(1, n, generator=g) * 0.5
    heat[mask] = 1.0  # the padding is the hottest
    with torch.no_grad():
        dec_in, _ = model.pre_decoder(memory, mask, shapes, heat=heat)
        _, props = model.gen_encoder_output_proposals(memory, mask, shapes)
    valid = torch.isfinite(props).all(-1)[0]
    assert int(valid.sum()) >= model.num_queries
    assert (dec_in['reference_points'][0] < 1).all()
    top = model.select_queries(torch.zeros(1, n, 10), heat,
                               valid[None])[0]
    assert valid[top].all()


def test_tiny_hmpe_dino_trains_and_predicts():
    model = build(hmpe_cfg(dict(query_selection='product')))
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    # 128x96 images (the tiny config's size), the second one padded
    inputs, samples = fake_batch(shapes=((96, 128), (80, 112)),
                                 num_gts=(4, 2), pad=(96, 128))
    fuse0 = model.mohfe['fuse'].weight.detach().clone()
    for it in range(2):
        model.train()
        losses = run_loss(model, inputs, samples, seed=it)
        assert losses['loss_heatmap_cls'] > 0
        assert losses['loss_heatmap_bbox'] > 0
        total = sum(v for k, v in losses.items() if 'loss' in k)
        assert torch.isfinite(total)
        optim.zero_grad()
        total.backward()
        for p in model.heatmap_head.parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0
        optim.step()
    assert not torch.equal(model.mohfe['fuse'].weight, fuse0)
    model.eval()
    with torch.no_grad():
        results = model.predict(inputs, samples)
    assert len(results) == 2
    pred = results[0].pred_instances
    assert pred.bboxes.shape == (20, 4) and torch.isfinite(pred.scores).all()


def test_three_decoder_layers_and_bad_selection():
    model = build(hmpe_cfg(dec_layers=3)).eval()
    assert len(model.bbox_head.cls_branches) == 4  # 3 layers + encoder
    inputs, samples = fake_batch()
    with torch.no_grad():
        out = model.forward_transformer(model.extract_feat(inputs), samples)
    assert out['hidden_states'].shape[0] == 3
    with pytest.raises(ValueError, match='hmpe.query_selection must be one'):
        MODELS.build(hmpe_cfg(dict(query_selection='random')))
    with pytest.raises(ValueError, match=r"unknown hmpe keys \['mohfee'\]"):
        MODELS.build(hmpe_cfg(dict(mohfee=False)))


def test_vis_heatmap_tool_writes_png(synthetic_root, tmp_path):
    """The tool end to end, at the two thresholds whose hot share is known
    without the model: every heat value (min-max normalised, in [0, 1]) is
    above -1 and none above 1 (Eq. 6 keeps heat > tau)."""
    from PIL import Image

    from tests.conftest import PYTHON, run_tool
    img = osp.join(synthetic_root, 'VisDrone2019-DET-val', 'images',
                   '0000001.jpg')
    cfg = osp.join(ROOT, 'configs', 'hmpe', 'dino_r18_synthetic_hmpe.py')
    for tau, share in (('-1', '100.0%'), ('1', '0.0%')):
        out = str(tmp_path / f'heat{tau}.png')
        proc = run_tool([PYTHON, 'tools/analysis_tools/vis_heatmap.py', cfg,
                         img, '--out', out, '--tau', tau])
        assert f'{share} of the image hot' in proc.stdout, proc.stdout
        with Image.open(out) as png:
            width, height = png.size
        assert width > 3 * height  # the five panels side by side
