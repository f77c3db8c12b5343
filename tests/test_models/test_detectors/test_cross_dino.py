"""CrossDINO + CrossDINOHead: equivalence with mmdet's DINO when CCTM is off
and the loss is focal; CCTM placement; Boost in every loss term; a tiny
Cross-DINO trains a few iterations and predicts."""
import copy
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

import crossdino  # noqa: F401
from tests.conftest import padded_det_batch as fake_batch

register_all_modules()

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
TINY_CFG = osp.join(ROOT, 'tests', 'configs', 'dino_tiny_synthetic.py')
BOOST = dict(type='BoostLoss', alpha=0.25, beta=0.1, gamma=2.0,
             loss_weight=1.0)


def tiny_model_cfg(cross=True, cctm=None, loss_cls=None, query_memory=None,
                   **head):
    model = copy.deepcopy(Config.fromfile(TINY_CFG).model)
    if cross:
        model.type = 'CrossDINO'
        model.cctm = cctm
        if query_memory is not None:
            model.query_memory = query_memory
        model.bbox_head.type = 'CrossDINOHead'
        model.bbox_head.update(head)
    if loss_cls is not None:
        model.bbox_head.loss_cls = loss_cls
    return model


def build(cfg, seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def run_loss(model, inputs, samples, seed=1):
    torch.manual_seed(seed)  # DN query noise
    return model.loss(inputs, samples)


def dino_and(cross_cfg):
    """mmdet's tiny DINO and a model of ``cross_cfg`` with its weights, and
    their losses on the same batch (same keys)."""
    dino = build(tiny_model_cfg(cross=False))
    cross = build(cross_cfg)
    cross.load_state_dict(dino.state_dict())
    inputs, samples = fake_batch()
    l_dino = run_loss(dino.train(), inputs, samples)
    l_cross = run_loss(cross.train(), inputs, samples)
    assert l_dino.keys() == l_cross.keys()
    return dino, cross, l_dino, l_cross, (inputs, samples)


def test_equals_dino_with_cctm_off_and_focal():
    dino, cross, l_dino, l_cross, (inputs, samples) = dino_and(
        tiny_model_cfg(cross=True, cctm=None))
    for k in l_dino:
        torch.testing.assert_close(l_cross[k], l_dino[k], rtol=0, atol=0)
    dino.eval()
    cross.eval()
    with torch.no_grad():
        p_dino = dino.predict(inputs, copy.deepcopy(samples))
        p_cross = cross.predict(inputs, copy.deepcopy(samples))
    for a, b in zip(p_dino, p_cross):
        torch.testing.assert_close(b.pred_instances.bboxes,
                                   a.pred_instances.bboxes, rtol=0, atol=0)
        torch.testing.assert_close(b.pred_instances.scores,
                                   a.pred_instances.scores, rtol=0, atol=0)


def test_boost_reaches_every_cls_term_only():
    """Boost replaces the classification loss of the encoder proposals, every
    decoder layer and the DN queries; the box terms stay the same."""
    focal_model = build(tiny_model_cfg(cross=True))
    boost_model = build(tiny_model_cfg(cross=True, loss_cls=BOOST))
    boost_model.load_state_dict(focal_model.state_dict())
    inputs, samples = fake_batch()
    l_f = run_loss(focal_model.train(), inputs, samples)
    l_b = run_loss(boost_model.train(), inputs, samples)
    cls_keys = [k for k in l_f if 'loss_cls' in k]
    assert 'enc_loss_cls' in cls_keys and 'dn_loss_cls' in cls_keys
    for k in l_f:
        if k in cls_keys:
            assert not torch.allclose(l_b[k], l_f[k]), k
        else:
            torch.testing.assert_close(l_b[k], l_f[k])


def test_dn_queries_can_keep_focal():
    focal = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                 loss_weight=1.0)
    a = build(tiny_model_cfg(cross=True, loss_cls=BOOST))
    b = build(tiny_model_cfg(cross=True, loss_cls=BOOST, dn_loss_cls=focal))
    f = build(tiny_model_cfg(cross=True))
    b.load_state_dict(a.state_dict())
    f.load_state_dict(a.state_dict())
    inputs, samples = fake_batch()
    la, lb, lf = (run_loss(m.train(), inputs, samples) for m in (a, b, f))
    torch.testing.assert_close(lb['loss_cls'], la['loss_cls'])
    torch.testing.assert_close(lb['dn_loss_cls'], lf['dn_loss_cls'])
    assert not torch.allclose(la['dn_loss_cls'], lf['dn_loss_cls'])


@pytest.mark.parametrize('query_memory', ['encoder', 'cross'])
def test_cctm_output_feeds_topk_and_decoder(monkeypatch, query_memory):
    """The top-k selection reads E ('encoder') or E_cf ('cross'); the
    decoder's cross-attention reads E_cf either way."""
    model = build(tiny_model_cfg(cross=True, cctm=dict(type='CCTM')))
    model.query_memory = query_memory
    model.eval()
    inputs, samples = fake_batch()
    seen = {}
    orig_cctm = model.cctm.forward
    orig_proposals = model.gen_encoder_output_proposals
    orig_decoder = model.forward_decoder

    def spy_cctm(memory, feat, mask=None, level_start_index=None):
        out = orig_cctm(memory, feat, mask, level_start_index)
        seen['cctm_in'], seen['cctm_out'], seen['mask'] = memory, out, mask
        seen['feat'], seen['starts'] = feat, level_start_index
        return out

    def spy_proposals(memory, *args):
        seen['topk_memory'] = memory
        return orig_proposals(memory, *args)

    def spy_decoder(memory, **kw):
        seen['decoder_memory'] = memory
        return orig_decoder(memory=memory, **kw)

    monkeypatch.setattr(model.cctm, 'forward', spy_cctm)
    monkeypatch.setattr(model, 'gen_encoder_output_proposals', spy_proposals)
    monkeypatch.setattr(model, 'forward_decoder', spy_decoder)
    with torch.no_grad():
        model.predict(inputs, samples)
    topk_from = 'cctm_in' if query_memory == 'encoder' else 'cctm_out'
    assert seen['topk_memory'] is seen[topk_from]
    assert seen['decoder_memory'] is seen['cctm_out']
    assert seen['mask'] is not None and seen['mask'].any()  # padded batch
    assert seen['feat'].shape == seen['cctm_in'].shape
    assert seen['starts'].tolist()[0] == 0 and len(seen['starts']) == len(
        model.level_embed)
    assert not torch.equal(seen['cctm_out'], seen['cctm_in'])


def test_bad_query_memory_is_a_value_error():
    with pytest.raises(ValueError, match="query_memory.*'E'"):
        build(tiny_model_cfg(cross=True, cctm=dict(type='CCTM'),
                             query_memory='E'))


@pytest.mark.parametrize('mode', ['twice', 'once', 'mlp'])
def test_tiny_cross_dino_trains_and_predicts(mode):
    model = build(tiny_model_cfg(cross=True, cctm=dict(type='CCTM', mode=mode),
                                 loss_cls=BOOST))
    model.train()
    optim = torch.optim.AdamW(model.parameters(), lr=2e-4)
    inputs, samples = fake_batch(num_gts=(3, 2))
    totals = []
    for it in range(4 if mode == 'twice' else 1):
        torch.manual_seed(100)  # same DN noise every step
        losses = model.loss(inputs, samples)
        total = sum(v.sum() for v in losses.values())
        assert torch.isfinite(total)
        optim.zero_grad()
        total.backward()
        if it == 0:
            for name, p in model.cctm.named_parameters():
                assert p.grad is not None, name
        optim.step()
        totals.append(total.item())
    if mode == 'twice':
        assert totals[-1] < totals[0]  # it learns the batch
    model.eval()
    with torch.no_grad():
        preds = model.predict(inputs, copy.deepcopy(samples))
        feats = model._forward(inputs, samples)
    assert len(preds) == 2 and len(feats) == 2
    r = preds[0].pred_instances
    assert r.bboxes.shape[1] == 4 and len(r.scores) == len(r.labels) > 0


def test_zero_gt_batch():
    model = build(tiny_model_cfg(cross=True, cctm=dict(type='CCTM'),
                                 loss_cls=BOOST)).train()
    inputs, samples = fake_batch(num_gts=(0, 0))
    losses = model.loss(inputs, samples)
    assert losses['loss_cls'] > 0 and losses['enc_loss_cls'] > 0
    assert losses['loss_bbox'] == 0 and losses['loss_iou'] == 0
    sum(v.sum() for v in losses.values()).backward()


def test_enact_cross_dino_runs_cctm_after_the_global_layer(monkeypatch):
    """ENACTCrossDINO: encoder -> global ENACT layer -> CCTM, so CCTM crosses
    the refined memory with B."""
    cfg = tiny_model_cfg(cross=True, cctm=dict(type='CCTM'))
    cfg.type = 'ENACTCrossDINO'
    dims = cfg.encoder.layer_cfg.self_attn_cfg.embed_dims
    cfg.global_enact = dict(
        num_levels=1,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=dims, num_heads=4, sigma=1.0),
            ffn_cfg=dict(embed_dims=dims, feedforward_channels=32)))
    model = build(cfg).eval()
    inputs, samples = fake_batch()
    seen = {}
    orig_layer = model.global_enact.forward
    orig_cctm = model.cctm.forward

    def spy_layer(*args, **kwargs):
        seen['enact_out'] = out = orig_layer(*args, **kwargs)
        return out

    def spy_cctm(memory, *args, **kwargs):
        seen['cctm_in'] = memory
        return orig_cctm(memory, *args, **kwargs)

    monkeypatch.setattr(model.global_enact, 'forward', spy_layer)
    monkeypatch.setattr(model.cctm, 'forward', spy_cctm)
    with torch.no_grad():
        model.predict(inputs, samples)
    n = seen['enact_out'].shape[1]  # the coarsest level's tokens
    assert torch.equal(seen['cctm_in'][:, -n:], seen['enact_out'])


def test_boost_consistent_matching_cost_trains(monkeypatch):
    from crossdino.models.task_modules import BoostLossCost
    cfg = tiny_model_cfg(cross=True, cctm=dict(type='CCTM'), loss_cls=BOOST)
    cfg.train_cfg.assigner.match_costs[0] = dict(
        type='BoostLossCost', beta=BOOST['beta'], weight=2.0)
    model = build(cfg).train()
    calls = []
    orig = BoostLossCost.__call__
    monkeypatch.setattr(BoostLossCost, '__call__',
                        lambda self, *a, **k: calls.append(1) or orig(
                            self, *a, **k))
    losses = run_loss(model, *fake_batch())
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    # every decoder layer and the encoder proposals of the image with boxes
    # (the assigner skips the cost for an image without ground truth)
    assert len(calls) == model.decoder.num_layers + 1


def test_boost_gets_boxes_normalised_by_the_unpadded_image(monkeypatch):
    """The matched ground-truth boxes handed to Boost are the image's boxes
    as cxcywh divided by its img_shape (not the padded batch shape), by hand;
    predicted boxes are normalised cxcywh in [0, 1]."""
    from crossdino.models.losses import BoostLoss
    shapes = ((40, 56), (56, 72))  # both smaller than the 64x80 padding
    inputs, samples = fake_batch(shapes=shapes, num_gts=(3, 2))
    hand = []
    for (h, w), s in zip(shapes, samples):
        x1, y1, x2, y2 = s.gt_instances.bboxes.unbind(-1)
        hand.append(torch.stack([(x1 + x2) / 2 / w, (y1 + y2) / 2 / h,
                                 (x2 - x1) / w, (y2 - y1) / h], -1))
    calls = []
    orig = BoostLoss.forward

    def spy(self, pred, target, *args, pred_bboxes=None, gt_bboxes=None,
            **kwargs):
        calls.append((target, pred_bboxes.detach(), gt_bboxes))
        return orig(self, pred, target, *args, pred_bboxes=pred_bboxes,
                    gt_bboxes=gt_bboxes, **kwargs)

    monkeypatch.setattr(BoostLoss, 'forward', spy)
    model = build(tiny_model_cfg(cross=True, loss_cls=BOOST)).train()
    run_loss(model, inputs, samples)
    num_classes = model.bbox_head.num_classes
    assert len(calls) >= 3  # encoder proposals, decoder layers, DN queries
    for labels, pred, gt in calls:
        assert pred.min() >= 0 and pred.max() <= 1
        per_image = len(labels) // 2
        for i in range(2):
            rows = slice(i * per_image, (i + 1) * per_image)
            pos = labels[rows] < num_classes
            assert pos.any()
            # every positive's target is one of image i's boxes, exactly
            dist = torch.cdist(gt[rows][pos], hand[i])
            assert dist.min(dim=1).values.max() < 1e-6


def test_own_loss_bodies_equal_dino_for_every_term():
    """A focal loss that claims to need boxes sends every term (encoder
    proposals, each decoder layer, DN queries) through CrossDINOHead's own
    target -> loss path, the one Boost uses; every term must equal mmdet's
    DINO with its plain focal loss."""
    from mmdet.models.losses import FocalLoss

    class BoxAwareFocal(FocalLoss):
        needs_bboxes = True

        def forward(self, *args, pred_bboxes=None, gt_bboxes=None, **kwargs):
            assert pred_bboxes is not None and gt_bboxes is not None
            return super().forward(*args, **kwargs)

    MODELS.register_module('BoxAwareFocalForTest', module=BoxAwareFocal,
                           force=True)
    focal = dict(use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0)
    *_, l_dino, l_cross, _ = dino_and(tiny_model_cfg(
        cross=True, loss_cls=dict(type='BoxAwareFocalForTest', **focal)))
    for k in l_dino:
        torch.testing.assert_close(l_cross[k].reshape(()),
                                   l_dino[k].reshape(()), msg=k)
