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


def tiny_model_cfg(cross=True, cctm=None, loss_cls=None, **head):
    model = copy.deepcopy(Config.fromfile(TINY_CFG).model)
    if cross:
        model.type = 'CrossDINO'
        model.cctm = cctm
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


def test_equals_dino_with_cctm_off_and_focal():
    dino = build(tiny_model_cfg(cross=False))
    cross = build(tiny_model_cfg(cross=True, cctm=None))
    cross.load_state_dict(dino.state_dict())
    inputs, samples = fake_batch()
    l_dino = run_loss(dino.train(), inputs, samples)
    l_cross = run_loss(cross.train(), inputs, samples)
    assert l_dino.keys() == l_cross.keys()
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


def test_own_loss_path_equals_dino_loss():
    """The head's own target->loss path (used for Boost) reproduces mmdet's
    DINO losses when it is given the focal loss on the DN queries."""
    focal = dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                 loss_weight=1.0)
    dino = build(tiny_model_cfg(cross=False))
    cross = build(tiny_model_cfg(cross=True, dn_loss_cls=focal))
    cross.load_state_dict(dino.state_dict())
    inputs, samples = fake_batch()
    l_dino = run_loss(dino.train(), inputs, samples)
    l_cross = run_loss(cross.train(), inputs, samples)
    for k in l_dino:
        torch.testing.assert_close(l_cross[k].reshape(()),
                                   l_dino[k].reshape(()))


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


def test_cctm_output_feeds_topk_and_decoder(monkeypatch):
    model = build(tiny_model_cfg(cross=True, cctm=dict(type='CCTM')))
    model.eval()
    inputs, samples = fake_batch()
    seen = {}
    orig_pre_decoder = model.pre_decoder
    orig_cctm = model.cctm.forward

    def spy_cctm(memory, feat, mask=None, level_start_index=None):
        out = orig_cctm(memory, feat, mask, level_start_index)
        seen['cctm_in'], seen['cctm_out'], seen['mask'] = memory, out, mask
        seen['feat'] = feat
        return out

    def spy_pre_decoder(memory, **kw):
        seen['pre_decoder_memory'] = memory
        dec_in, head_in = orig_pre_decoder(memory=memory, **kw)
        seen['decoder_memory'] = dec_in['memory']
        return dec_in, head_in

    monkeypatch.setattr(model.cctm, 'forward', spy_cctm)
    monkeypatch.setattr(model, 'pre_decoder', spy_pre_decoder)
    with torch.no_grad():
        model.predict(inputs, samples)
    assert seen['pre_decoder_memory'] is seen['cctm_out']
    assert seen['decoder_memory'] is seen['cctm_out']
    assert seen['mask'] is not None and seen['mask'].any()  # padded batch
    assert seen['feat'].shape == seen['cctm_in'].shape
    assert not torch.equal(seen['cctm_out'], seen['cctm_in'])


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
