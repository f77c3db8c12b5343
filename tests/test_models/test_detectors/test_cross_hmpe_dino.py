"""CrossHMPEDINO: Cross-DINO + HMPE + global ENACT in one detector (issue
19). With every part off it is DINO; with all on, one training step
reaches every part in the documented order, the decoder reads CCTM's output
and the queries carry HMPE's content."""
import copy

import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

import crossdino  # noqa: F401
from tests.conftest import padded_det_batch, tiny_detector_cfg

register_all_modules()


def build(cfg, seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.train()


def losses(model, inputs, samples):
    torch.manual_seed(1)  # the same denoising noise
    return model.loss(inputs, samples)


def test_every_part_off_is_dino():
    dino = build(tiny_detector_cfg('dino'))
    cfg = tiny_detector_cfg('dino')
    cfg.update(type='CrossHMPEDINO', cctm=None, hmpe=None, global_enact=None)
    cfg.bbox_head.type = 'CrossDINOHead'  # focal loss: DINOHead's terms
    composed = build(cfg)
    composed.load_state_dict(dino.state_dict())
    inputs, samples = padded_det_batch()
    ref, got = losses(dino, inputs, samples), losses(composed, inputs, samples)
    assert ref.keys() == got.keys()
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=0, atol=0, msg=k)


def test_all_parts_train_in_order_and_feed_the_decoder():
    model = build(tiny_detector_cfg('all'))
    calls, seen = [], {}

    def note(name):
        def hook(module, args, out):
            calls.append(name)
            seen[name] = out
        return hook

    model.heatmap_head.register_forward_hook(note('heatmap_head'))
    model.encoder.register_forward_hook(note('encoder'))
    model.global_enact.register_forward_hook(note('global_enact'))
    model.cctm.register_forward_hook(note('cctm'))
    model.hidq_proj.register_forward_hook(note('hidq_proj'))
    forward_decoder = model.forward_decoder

    def decoder(**kwargs):
        seen['decoder_inputs'] = kwargs
        calls.append('decoder')
        return forward_decoder(**kwargs)

    model.forward_decoder = decoder
    inputs, samples = padded_det_batch(num_gts=(4, 2))
    out = losses(model, inputs, samples)
    assert calls == ['heatmap_head', 'encoder', 'global_enact', 'cctm',
                     'hidq_proj', 'decoder']
    # the decoder reads E_cf, CCTM's output
    assert seen['decoder_inputs']['memory'] is seen['cctm']
    # the matching queries carry HIDQ's content: learned queries + W'_Q term
    nq = model.num_queries
    query = seen['decoder_inputs']['query'][:, -nq:]
    torch.testing.assert_close(
        query, model.query_embedding.weight[None] + seen['hidq_proj'])
    assert {'loss_heatmap_cls', 'loss_heatmap_bbox', 'loss_cls',
            'dn_loss_cls', 'enc_loss_cls'} <= set(out)
    total = sum(v for k, v in out.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    for part in ('heatmap_head', 'global_enact', 'cctm', 'hidq_proj'):
        grads = [p.grad for p in getattr(model, part).parameters()
                 if p.requires_grad]
        assert grads and any(g is not None and g.abs().sum() > 0
                             for g in grads), part


def test_predicts():
    model = build(tiny_detector_cfg('all')).eval()
    inputs, samples = padded_det_batch()
    with torch.no_grad():
        out = model.predict(inputs, copy.deepcopy(samples))
    assert [len(s.pred_instances) for s in out] == [20, 20]
