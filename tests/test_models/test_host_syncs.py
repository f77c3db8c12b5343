"""Forward passes of the project's modules make no host-device
synchronisation (``crossdino.utils.HostSyncRecorder``): a new ``.item()``,
``nonzero``, boolean-mask index or tensor built from host data fails here,
on the CPU, before it stalls a GPU. ENACT's own cases (one documented read
in its default mode) are in ``test_layers/test_enact_attention.py``."""
import sys

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

import crossdino  # noqa: F401
from crossdino.utils import HostSyncRecorder
from crossdino.utils.host_sync import call_site

register_all_modules()


def _cctm():
    m = MODELS.build(dict(type='CCTM', embed_dims=32, grn_per_level=True))
    x = torch.randn(2, 50, 32)
    mask = torch.zeros(2, 50, dtype=torch.bool)
    mask[1, 40:] = True
    starts = torch.tensor([0, 30, 45, 48])
    return lambda: m(x, x, mask, starts)


def _boost_loss():
    loss = MODELS.build(dict(type='BoostLoss', beta=0.1))
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(10, 5, generator=g, requires_grad=True)
    labels = torch.randint(0, 6, (10, ), generator=g)  # 5 = background
    boxes = torch.rand(2, 10, 4, generator=g)

    def run():
        loss(pred, labels, torch.ones(10), avg_factor=3.,
             pred_bboxes=boxes[0], gt_bboxes=boxes[1]).backward()
    return run


def _clap_strip_mlp():
    m = MODELS.build(dict(type='CLAPStripMLP', arch='tiny_light',
                          out_indices=(1, 2, 3), clap_mode='mlp_dino',
                          init_cfg=None)).eval()
    x = torch.randn(1, 3, 200, 264)  # not a multiple of the tiles

    def run():
        with torch.no_grad():
            m(x)
    return run


@pytest.mark.parametrize('make', [_cctm, _boost_loss, _clap_strip_mlp],
                         ids=['cctm', 'boost_loss', 'clap_strip_mlp'])
def test_forward_has_no_host_sync(make):
    run = make()
    with HostSyncRecorder() as rec:
        run()
    assert rec.syncs == []


def test_recorder_sees_each_kind_of_sync():
    x = torch.randn(5)
    with HostSyncRecorder() as rec:
        x.new_tensor(3)
        int(x.argmax())
        x[x > 0]
        x.new_full((2, ), 3.)  # a fill: no copy
        y = x.clone()
        y[x > 0] = x.new_zeros(())  # a device tensor: only the mask syncs
        torch.bincount(x.argsort())
    assert rec.syncs == ['h2d aten.lift_fresh.default',
                         'd2h aten._local_scalar_dense.default',
                         'd2h aten.index.Tensor (bool mask)',
                         'd2h aten.index_put_.default (bool mask)',
                         'd2h aten.bincount.default']


def test_recorder_names_the_call_site():
    x = torch.randn(5)
    with HostSyncRecorder() as rec:
        int(x.argmax())
        x.new_tensor(3)
    line = test_recorder_names_the_call_site.__code__.co_firstlineno + 3
    # a test is outside the package: its own lines are the sites (relative
    # to the longest sys.path entry holding the file)
    assert sorted(rec.sites.values()) == [1, 1]
    assert sorted(s.rsplit('/', 1)[-1] for s in rec.sites) == [
        f'test_host_syncs.py:{line}', f'test_host_syncs.py:{line + 1}']


def test_call_site_is_the_innermost_frame_outside_torch():
    from traceback import FrameSummary
    stack = [
        FrameSummary('/r/tools/train.py', 10, 'main'),
        FrameSummary('/r/crossdino/models/detectors/x.py', 42, 'loss'),
        FrameSummary('/env/site-packages/mmdet/models/y.py', 7, 'f'),
        FrameSummary('/env/site-packages/torch/nn/functional.py', 3, 'g'),
    ]
    sys.path.insert(0, '/opt/site')
    try:
        assert call_site([FrameSummary('/opt/site/mmcv/ops/x.py', 5, 'f')]) \
            == 'mmcv/ops/x.py:5'
    finally:
        sys.path.remove('/opt/site')
    assert call_site(stack) == 'mmdet/models/y.py:7'
    # crossdino's fp32 pass-through around mmcv's kernels is not a site
    fp32 = FrameSummary('/r/crossdino/models/layers/fp32_ops.py', 60, 'w')
    assert call_site(stack[:3] + [fp32]) == 'mmdet/models/y.py:7'
    assert call_site(stack[:2]) == 'crossdino/models/detectors/x.py:42'
    assert call_site(stack[3:]) == '?'


def test_cross_dino_head_loss_makes_no_sync_of_its_own():
    """mmdet's DETR loss reads the cost matrix on the host (the Hungarian
    matching runs in scipy) and copies host scalars to the device; the loss
    body CrossDINOHead replaces builds its tensors with fill kernels."""
    from tests.conftest import padded_det_batch, tiny_detector_cfg
    torch.manual_seed(0)
    model = MODELS.build(tiny_detector_cfg('cross-dino'))
    model.init_weights()
    model.train()
    inputs, samples = padded_det_batch()
    with HostSyncRecorder() as rec:
        model.loss(inputs, samples)
    assert rec.syncs  # mmdet's matching does read the host
    assert not [s for s in rec.sites if 'cross_dino_head.py' in s], rec.sites
