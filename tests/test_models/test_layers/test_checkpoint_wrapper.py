"""mmdet's ``encoder.num_cp`` without fairscale: the checkpointed encoder
recomputes its layers in the backward pass and gives the same losses and
gradients as the plain one."""
import copy
import os.path as osp

import torch
import torch.utils.checkpoint as cp
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config

import crossdino  # noqa: F401
from tests.conftest import padded_det_batch

register_all_modules()
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
TINY_CFG = osp.join(ROOT, 'tests', 'configs', 'dino_tiny_synthetic.py')


def _grads_and_losses(num_cp):
    cfg = copy.deepcopy(Config.fromfile(TINY_CFG).model)
    cfg.encoder.num_layers = 2
    cfg.encoder.num_cp = num_cp
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    inputs, samples = padded_det_batch()
    torch.manual_seed(1)
    losses = model.loss(inputs, samples)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    grads = {n: p.grad for n, p in model.named_parameters()
             if p.grad is not None}
    return model, losses, grads


def test_num_cp_recomputes_and_changes_nothing(monkeypatch):
    calls = []
    orig = cp.checkpoint
    monkeypatch.setattr(cp, 'checkpoint',
                        lambda *a, **k: calls.append(1) or orig(*a, **k))
    _, ref_losses, ref_grads = _grads_and_losses(0)
    assert calls == []
    model, losses, grads = _grads_and_losses(2)  # both encoder layers
    assert len(calls) == 2  # one checkpointed call per encoder layer
    assert set(model.state_dict()) == set(
        _grads_and_losses(0)[0].state_dict())  # keys unchanged
    for k in ref_losses:
        torch.testing.assert_close(losses[k], ref_losses[k])
    assert grads.keys() == ref_grads.keys()
    for k in grads:
        torch.testing.assert_close(grads[k], ref_grads[k], msg=k)
    model.eval()  # no recomputation outside training
    with torch.no_grad():
        model.predict(*padded_det_batch())
    assert len(calls) == 2


def test_deep_copy_runs_its_own_weights():
    """mmengine's EMA deep-copies the model: the copy of a checkpointed
    module must run the copy's weights, not the original's."""
    from crossdino.models.layers import checkpoint_wrapper
    layer = checkpoint_wrapper(torch.nn.Linear(4, 3)).train()
    twin = copy.deepcopy(layer)
    with torch.no_grad():
        twin.weight.zero_()
        twin.bias.zero_()
    x = torch.randn(2, 4, requires_grad=True)
    assert twin(x).abs().sum() == 0
    assert layer(x).abs().sum() > 0
    twin.eval()
    assert twin(x).abs().sum() == 0


def test_enact_encoders_checkpoint_too():
    from crossdino.models.layers.enact_layers import \
        ENACTDetrTransformerEncoder
    layer_cfg = dict(
        self_attn_cfg=dict(embed_dims=16, num_heads=4, sigma=1.0,
                           batch_first=True),
        ffn_cfg=dict(embed_dims=16, feedforward_channels=32))
    torch.manual_seed(0)
    plain = ENACTDetrTransformerEncoder(2, layer_cfg).train()
    cpd = ENACTDetrTransformerEncoder(2, layer_cfg, num_cp=2).train()
    cpd.load_state_dict(plain.state_dict())
    x = torch.randn(2, 30, 16)
    pos = torch.randn(2, 30, 16)
    mask = torch.zeros(2, 30, dtype=torch.bool)
    mask[1, 24:] = True
    outs = []
    for enc in (plain, cpd):
        y = enc(x, pos, mask)
        y.sum().backward()
        outs.append((y, [p.grad.clone() for p in enc.parameters()
                         if p.grad is not None]))
    torch.testing.assert_close(outs[1][0], outs[0][0])
    for a, b in zip(outs[0][1], outs[1][1]):
        torch.testing.assert_close(b, a)
