"""CrossHMPEDINO: Cross-DINO + HMPE + global ENACT in one detector (issue
19). With every part off it is DINO; with all on, one training step
reaches every part in the documented order, the decoder reads CCTM's output
and the queries carry HMPE's content."""
import copy

import pytest
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


def _nonzero_zero_inits(model):
    """HMPE zero-initialises MOHFE's fuse and HIDQ's W'_Q (they start as
    no-ops); give them values so that their paths show in the outputs."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for lin in (model.mohfe['fuse'], model.hidq_proj):
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) * .1)
            lin.bias.copy_(torch.randn(lin.bias.shape, generator=g) * .1)


def _record(model):
    """Hooks noting call order and outputs; wrappers noting what
    pre_transformer, the encoder and pre_decoder received."""
    calls, seen = [], {}

    def note(name):
        def hook(module, args, kwargs, out):
            calls.append(name)
            seen[name] = (kwargs, out)
        return hook

    for name in ('heatmap_head', 'encoder', 'global_enact', 'cctm',
                 'hidq_proj'):
        getattr(model, name).register_forward_hook(note(name),
                                                   with_kwargs=True)
    model.hidq_proj.register_forward_pre_hook(
        lambda m, args: seen.__setitem__('hidq_in', args[0]))
    for name in ('pre_transformer', 'pre_decoder', 'forward_decoder'):
        method = getattr(model, name)

        def wrapped(*args, _method=method, _name=name, **kwargs):
            out = _method(*args, **kwargs)
            if _name == 'pre_transformer':  # before apply_hmpe edits it
                out = (dict(out[0]), out[1])
                seen[_name] = dict(out[0])
            else:
                seen[_name] = kwargs
            if _name == 'forward_decoder':
                calls.append('decoder')
            return out
        setattr(model, name, wrapped)
    return calls, seen


def _rows_from(rows, table):
    """Largest distance of each row of ``rows`` (n, C) to its nearest row of
    ``table`` (m, C)."""
    # exact differences (the matmul form loses ~1e-3 near zero distance)
    return torch.cdist(rows, table, compute_mode='donot_use_mm_for_euclid_dist'
                       ).min(1)[0].max()


@pytest.mark.parametrize('query_memory', ['encoder', 'cross'])
def test_all_parts_train_in_order_and_feed_the_decoder(query_memory):
    cfg = tiny_detector_cfg('all')
    cfg.query_memory = query_memory
    model = build(cfg)
    _nonzero_zero_inits(model)
    calls, seen = _record(model)
    inputs, samples = padded_det_batch(num_gts=(4, 2))
    out = losses(model, inputs, samples)
    assert calls == ['heatmap_head', 'encoder', 'global_enact', 'cctm',
                     'hidq_proj', 'decoder']
    pre, enc_kwargs = seen['pre_transformer'], seen['encoder'][0]
    # mask filter: the encoder's positional embedding is HMPE's; MOHFE:
    # its input tokens differ from the plain ones by the heatmap embedding
    assert not torch.equal(enc_kwargs['query_pos'], pre['feat_pos'])
    assert not torch.equal(enc_kwargs['query'], pre['feat'])
    # CCTM crosses E with B, the tokens the encoder saw (MOHFE included)
    dec = seen['pre_decoder']
    assert dec['feat'] is enc_kwargs['query']
    cross = seen['cctm'][1]
    assert seen['forward_decoder']['memory'] is cross  # the decoder: E_cf
    # HIDQ's content: rows of (proposal memory of E, or of E_cf) x heat
    memory = dec['memory'] if query_memory == 'encoder' else cross
    source, _ = model.gen_encoder_output_proposals(
        memory, dec['memory_mask'], dec['spatial_shapes'])
    table = source * dec['heat'].unsqueeze(-1)
    for b in range(2):
        assert _rows_from(seen['hidq_in'][b], table[b]) < 1e-5
    other = cross if query_memory == 'encoder' else dec['memory']
    wrong, _ = model.gen_encoder_output_proposals(
        other, dec['memory_mask'], dec['spatial_shapes'])
    assert _rows_from(seen['hidq_in'][0],
                      (wrong * dec['heat'].unsqueeze(-1))[0]) > 1e-3
    assert {'loss_heatmap_cls', 'loss_heatmap_bbox', 'loss_cls',
            'dn_loss_cls', 'enc_loss_cls'} <= set(out)
    total = sum(v for k, v in out.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    for part in ('heatmap_head', 'mohfe', 'global_enact', 'cctm',
                 'hidq_proj'):
        grads = [p.grad for p in getattr(model, part).parameters()
                 if p.requires_grad]
        assert grads and any(g is not None and g.abs().sum() > 0
                             for g in grads), part


def test_predict_runs_every_part():
    model = build(tiny_detector_cfg('all')).eval()
    calls, _ = _record(model)
    inputs, samples = padded_det_batch()
    with torch.no_grad():
        out = model.predict(inputs, copy.deepcopy(samples))
    assert calls == ['heatmap_head', 'encoder', 'global_enact', 'cctm',
                     'hidq_proj', 'decoder']
    assert [len(s.pred_instances) for s in out] == [20, 20]


@pytest.mark.parametrize('cctm', [True, False])
@pytest.mark.parametrize('hmpe', [True, False])
@pytest.mark.parametrize('enact', [True, False])
def test_any_subset_of_parts_trains(cctm, hmpe, enact):
    cfg = tiny_detector_cfg('all')
    cfg.update(cctm=cfg.cctm if cctm else None,
               hmpe=cfg.hmpe if hmpe else None,
               global_enact=cfg.global_enact if enact else None)
    model = build(cfg)
    out = losses(model, *padded_det_batch())
    assert ('loss_heatmap_cls' in out) == hmpe
    assert (model.cctm is None) != cctm
    assert (model.global_enact is None) != enact
    assert torch.isfinite(sum(v for k, v in out.items() if 'loss' in k))
