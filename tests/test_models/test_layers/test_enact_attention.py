"""ENACTAttention: clustering on hand-made signals, segment sums against a
slow reference, padding isolation, mmcv MultiheadAttention contract,
gradients, and tiny ENACT DETRs (loss + backward + predict) on CPU."""
import copy
import math
import os.path as osp

import pytest
import torch
from mmcv.cnn.bricks.transformer import MultiheadAttention
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.structures import InstanceData

import crossdino  # noqa: F401
from crossdino.models.layers import (ENACTAttention, cluster_tokens,
                                     gaussian_kernel1d, self_information,
                                     sign_regions, smooth_and_sign)
from tests.conftest import load_tool

register_all_modules()

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
D, HEADS = 16, 4


def make_attn(**kw):
    torch.manual_seed(0)
    attn = ENACTAttention(D, HEADS, batch_first=True, **kw)
    attn.init_weights()
    return attn.eval()


def rows_padding(B, H, W, valid_w):
    """DETR-style row-major padding: the right columns of each row."""
    mask = torch.zeros(B, H, W, dtype=torch.bool)
    for b, w in enumerate(valid_w):
        mask[b, :, w:] = True
    return mask.flatten(1)


# --------------------------------------------------------------- clustering
def test_gaussian_kernel_spans_three_sigma():
    k = gaussian_kernel1d(2.0)
    assert k.numel() == 2 * 6 + 1
    torch.testing.assert_close(k.sum(), torch.tensor(1.))
    assert k.argmax() == 6


def test_sign_regions_hand_made():
    pos = torch.tensor([[1, 1, 0, 0, 0, 1, 0, 0],
                        [0, 0, 0, 0, 0, 0, 1, 1]], dtype=torch.bool)
    pad = torch.tensor([[0, 0, 0, 0, 0, 0, 0, 0],
                        [0, 0, 1, 1, 0, 0, 0, 1]], dtype=torch.bool)
    ids, n = sign_regions(pos, pad)
    assert ids.tolist() == [[0, 0, 1, 1, 1, 2, 3, 3],
                            [0, 0, -1, -1, 1, 1, 2, -1]]
    # row 1: the sign stays the same across the padded run, but a valid
    # token after padding starts a new cluster (0 and 1 are split)
    assert n.tolist() == [4, 3]


def test_sign_regions_split_long_runs():
    pos = torch.tensor([[1] * 7 + [0] * 2 + [1]], dtype=torch.bool)
    pad = torch.tensor([[0] * 3 + [1] + [0] * 6], dtype=torch.bool)
    ids, n = sign_regions(pos, max_run_length=3)
    assert ids.tolist() == [[0, 0, 0, 1, 1, 1, 2, 3, 3, 4]]
    assert n.tolist() == [5]
    # padding restarts the count: tokens 4-6 are a new run of 3
    ids, n = sign_regions(pos, pad, max_run_length=3)
    assert ids.tolist() == [[0, 0, 0, -1, 1, 1, 1, 2, 2, 3]]


def test_overflow_merges_neighbours_evenly():
    """A cap below the cluster count merges neighbouring clusters: every
    slot is used, and the clusters stay in order (issue 15: the surplus used
    to pile into the last slot)."""
    attn = make_attn(sigma=0.5)
    x, pos = alternating_keys(1, 40)
    with torch.no_grad():
        attn.pdf.weight.zero_()
        attn.pdf.weight[0, 0] = 1.
    n = int(attn.cluster(x + pos, x)['num_clusters'])
    assert n > 20
    attn.max_clusters = 8
    cl = attn.cluster(x + pos, x)
    ids = cl['cluster_ids'][0]
    assert cl['overflow'].all() and cl['key'].shape == (1, 8, D)
    assert (ids.diff() >= 0).all()  # in order
    sizes = torch.bincount(ids, minlength=8)
    assert (sizes > 0).all() and sizes.max() <= 2 * sizes.min() + 2
    assert not cl['key_padding_mask'].any()


def test_bump_pdf_gives_peak_region():
    """A unimodal hand-made p.d.f. -> 3 regions: flank / peak / flank, the
    peak region centred on the mode ([-1, 2, -1] > 0 where concave)."""
    N, c = 63, 31
    x = torch.arange(N, dtype=torch.float32)
    p = torch.exp(-(x - c)**2 / (2 * 5.**2))
    p = p / p.sum()
    assert p.max() < 1 / math.e  # -p log p is then increasing in p
    attn = make_attn(sigma=1.0)
    with torch.no_grad():
        attn.pdf.weight.zero_()
        attn.pdf.weight[0, 0] = 1.
        attn.pdf.bias.zero_()
    key = torch.zeros(1, N, D)
    key[0, :, 0] = p.log()
    cl = attn.cluster(key, key)
    torch.testing.assert_close(cl['info'][0], -p * p.log())
    ids = cl['cluster_ids'][0]
    assert cl['num_clusters'].item() == 3
    peak = (ids == 1).nonzero().flatten()
    assert peak.min() + peak.max() == 2 * c  # symmetric about the mode
    assert 3 < peak.numel() < N // 2


def slow_reference(key, value, smoothed, ids):
    """Per image, per cluster loops (what the vectorised code replaces)."""
    B, N, C = key.shape
    M = int(ids.max()) + 1
    k_out, v_out = key.new_zeros(B, M, C), key.new_zeros(B, M, C)
    for b in range(B):
        for m in range(M):
            sel = ids[b] == m
            if sel.any():
                w = smoothed[b, sel].softmax(0)
                k_out[b, m] = (w[:, None] * key[b, sel]).sum(0)
                v_out[b, m] = (w[:, None] * value[b, sel]).sum(0)
    return k_out, v_out


def test_segment_sums_match_slow_reference_and_weights_sum_to_one():
    attn = make_attn(sigma=2.0)
    B, H, W = 3, 6, 9
    key, value = torch.randn(2, B, H * W, D).unbind(0)
    key = key * 3
    pad = rows_padding(B, H, W, [9, 6, 4])
    cl = attn.cluster(key, value, pad)
    n = cl['num_clusters']
    assert len(set(n.tolist())) > 1  # variable cluster counts in the batch
    M = int(n.max())
    assert cl['key'].shape == (B, M, D)
    assert cl['key_padding_mask'].tolist() == [
        [m >= int(nb) for m in range(M)] for nb in n]
    k_ref, v_ref = slow_reference(key, value, cl['smoothed'],
                                  cl['cluster_ids'])
    torch.testing.assert_close(cl['key'], k_ref)
    torch.testing.assert_close(cl['value'], v_ref)
    # weights: 1 per cluster, 0 on padding
    ids = cl['cluster_ids'].clamp(min=0)
    sums = torch.zeros(B, M).scatter_add(
        1, ids, cl['weights'] * (~pad))
    valid_cl = ~cl['key_padding_mask']
    torch.testing.assert_close(sums[valid_cl], torch.ones(int(n.sum())))
    assert (cl['weights'][pad] == 0).all()
    assert (cl['cluster_ids'][pad] == -1).all()
    assert (cl['cluster_ids'][~pad] >= 0).all()


def test_padding_never_mixes_and_does_not_change_valid_outputs():
    attn = make_attn(sigma=1.5)
    B, H, W = 2, 5, 8
    x, pos = torch.randn(2, B, H * W, D).unbind(0)
    pad = rows_padding(B, H, W, [8, 5])
    out = attn(x, query_pos=pos, key_padding_mask=pad)
    x2 = x.clone()
    x2[pad] = 100 * torch.randn(int(pad.sum()), D)
    out2 = attn(x2, query_pos=pos, key_padding_mask=pad)
    torch.testing.assert_close(out[~pad], out2[~pad])
    # each cluster is all-valid: padded tokens never carry a cluster id
    cl = attn.cluster(x + pos, x, pad)
    for b in range(B):
        ids = cl['cluster_ids'][b]
        assert (ids[pad[b]] == -1).all() and (ids[~pad[b]] >= 0).all()


# ------------------------------------------------- mmcv MultiheadAttention
def alternating_keys(B, N, pad=None):
    """Key logits that zig-zag: every token is its own sign region."""
    x = torch.randn(B, N, D)
    x[..., 0] = 3. * (torch.arange(N) % 2 * 2 - 1).float()
    pos = torch.randn(B, N, D)
    pos[..., 0] = 0
    return x, pos


@pytest.mark.parametrize('batch_first', [True, False])
def test_singleton_clusters_equal_mmcv_multihead_attention(batch_first):
    torch.manual_seed(0)
    mha = MultiheadAttention(D, HEADS, batch_first=batch_first).eval()
    attn = ENACTAttention(D, HEADS, batch_first=batch_first,
                          sigma=0.1).eval()
    missing, unexpected = attn.load_state_dict(mha.state_dict(),
                                               strict=False)
    assert sorted(missing) == ['pdf.bias', 'pdf.weight'] and not unexpected
    with torch.no_grad():
        attn.pdf.weight.zero_()
        attn.pdf.weight[0, 0] = 1.
    B, N = 2, 12
    x, pos = alternating_keys(B, N)
    pad = torch.zeros(B, N, dtype=torch.bool)
    pad[1, 9:] = True  # tail padding of image 1
    cl = attn.cluster(x + pos, x, pad)
    assert cl['num_clusters'].tolist() == [N, 9]
    if not batch_first:
        x, pos = x.transpose(0, 1), pos.transpose(0, 1)
    ident = torch.randn_like(x)
    ref = mha(x, query_pos=pos, identity=ident, key_padding_mask=pad)
    out = attn(x, query_pos=pos, identity=ident, key_padding_mask=pad)
    assert out.shape == ref.shape == x.shape
    torch.testing.assert_close(out, ref)


def test_cluster_tokens_identity_ids_is_identity():
    B, N = 2, 7
    k, v = torch.randn(2, B, N, D).unbind(0)
    ids = torch.arange(N).expand(B, N)
    (kc, vc), w = cluster_tokens([k, v], torch.randn(B, N), ids, N)
    torch.testing.assert_close(kc, k)
    torch.testing.assert_close(vc, v)
    torch.testing.assert_close(w, torch.ones(B, N))


def test_sync_free_caps():
    attn = make_attn(sigma=1.0)
    B, H, W = 2, 4, 10
    x, pos = torch.randn(2, B, H * W, D).unbind(0)
    pad = rows_padding(B, H, W, [10, 7])
    ref = attn(x, query_pos=pos, key_padding_mask=pad)
    attn.max_clusters = 1.0  # pad to N: exact, no host read
    torch.testing.assert_close(
        attn(x, query_pos=pos, key_padding_mask=pad), ref)
    attn.max_clusters = 3  # tight cap: overflow merges into the last slot
    cl = attn.cluster(x + pos, x, pad)
    assert cl['key'].shape == (B, 3, D)
    assert cl['overflow'].all()
    assert attn(x, query_pos=pos, key_padding_mask=pad).shape == x.shape


@pytest.mark.parametrize('max_clusters,expected', [
    (None, ['d2h aten._local_scalar_dense.default']),  # the documented read
    (12, []), (1.0, [])])
def test_host_syncs_per_forward(max_clusters, expected):
    """The fixed-shape modes read nothing back from the device and build no
    device tensor from host data; the default reads the cluster count once
    (issue 15: a ``new_tensor`` in the statistics used to copy every call)."""
    from crossdino.utils import HostSyncRecorder
    attn = make_attn(sigma=1.0, max_clusters=max_clusters)
    B, H, W = 2, 4, 10
    x, pos = torch.randn(2, B, H * W, D).unbind(0)
    pad = rows_padding(B, H, W, [10, 7])
    with HostSyncRecorder() as rec:
        attn(x, query_pos=pos, key_padding_mask=pad)
    assert rec.syncs == expected


def test_image_alone_equals_image_in_a_padded_batch():
    """Issue 15: the same image alone and in a padded batch (padding columns
    between its rows, padding rows below) must cluster the same way and give
    the same outputs; the 1-D filter runs over the valid tokens only."""
    attn = make_attn(sigma=2.0)
    g = torch.Generator().manual_seed(3)
    h, w, H, W = 5, 7, 6, 11
    x = torch.randn(1, h, w, D, generator=g)
    pos = torch.randn(1, h, w, D, generator=g)
    alone = attn(x.flatten(1, 2), query_pos=pos.flatten(1, 2))
    ids_alone = attn.cluster((x + pos).flatten(1, 2), x.flatten(1, 2))[
        'cluster_ids']
    big_x = torch.randn(2, H, W, D, generator=g)
    big_pos = torch.randn(2, H, W, D, generator=g)
    big_x[0, :h, :w], big_pos[0, :h, :w] = x[0], pos[0]
    mask = torch.ones(2, H, W, dtype=torch.bool)
    mask[0, :h, :w] = False
    mask[1, :, :9] = False
    mask = mask.flatten(1)
    out = attn(big_x.flatten(1, 2), query_pos=big_pos.flatten(1, 2),
               key_padding_mask=mask)
    ids = attn.cluster((big_x + big_pos).flatten(1, 2), big_x.flatten(1, 2),
                       mask)['cluster_ids']
    assert torch.equal(ids[0][~mask[0]], ids_alone[0])
    torch.testing.assert_close(out[0][~mask[0]], alone[0], rtol=0, atol=1e-5)


def test_bf16_autocast_gives_the_fp32_regions():
    """Issue 15: self-information, smoothing, sign and regions run in fp32
    with autocast off, so bf16 autocast clusters exactly as fp32 does."""
    attn = make_attn(sigma=5.0)
    g = torch.Generator().manual_seed(4)
    B, H, W = 2, 20, 30
    x, pos = torch.randn(2, B, H * W, D, generator=g).unbind(0)
    pad = rows_padding(B, H, W, [30, 22])
    ref = attn.cluster(x + pos, x, pad)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = attn.cluster(x + pos, x, pad)
        out = attn(x, query_pos=pos, key_padding_mask=pad)
    assert torch.equal(got['cluster_ids'], ref['cluster_ids'])
    assert got['smoothed'].dtype == torch.float32
    assert torch.isfinite(out).all()


def _numpy_regions(logits, sigma):
    """Steps 1-6 in numpy, written from the paper, not from the module:
    softmax -> -p ln p -> Gaussian (3 sigma, zero padded) -> [-1, 2, -1] ->
    > 0 -> maximal runs (itertools.groupby)."""
    import itertools

    import numpy as np
    p = np.exp(logits - logits.max())
    p /= p.sum()
    info = -p * np.log(p)
    half = math.ceil(3 * sigma)
    taps = np.exp(-np.arange(-half, half + 1)**2 / (2 * sigma**2))
    smoothed = np.convolve(info, taps / taps.sum(), mode='same')
    second = np.convolve(smoothed, [-1., 2., -1.], mode='same')
    ids = []
    for i, (_, group) in enumerate(itertools.groupby(second > 0)):
        ids += [i] * len(list(group))
    return np.array(ids)


@pytest.mark.parametrize('sigma', [1.0, 2.5, 5.0])
def test_regions_match_an_independent_numpy_reference(sigma):
    """Clusters the smoothed signal, not the raw one (a module that skipped
    the smoothing would give several times as many regions)."""
    attn = make_attn(sigma=sigma)
    with torch.no_grad():  # p.d.f. logit = channel 0 of the key
        attn.pdf.weight.zero_()
        attn.pdf.weight[0, 0] = 1.
        attn.pdf.bias.zero_()
    g = torch.Generator().manual_seed(5)
    N = 400
    key = torch.randn(1, N, D, generator=g, dtype=torch.float64)
    # a smooth landscape plus noise: structure at several scales
    t = torch.arange(N, dtype=torch.float64)
    key[0, :, 0] = 2 * torch.sin(t / 23) + torch.sin(t / 7) \
        + 0.3 * torch.randn(N, generator=g, dtype=torch.float64)
    attn.double()
    ids = attn.cluster(key, key)['cluster_ids'][0].numpy()
    ref = _numpy_regions(key[0, :, 0].numpy(), sigma)
    assert (ids == ref).all()
    raw = _numpy_regions(key[0, :, 0].numpy(), 1e-3)  # no smoothing
    assert raw.max() > 1.5 * ref.max()


def _arccos_law_count(sigma, n):
    """Expected region count of steps 3-5 on Gaussian white noise, from the
    filter alone: Y = noise * kernel * [-1, 2, -1] is a stationary Gaussian
    sequence, and two neighbours differ in sign with probability
    arccos(rho_1) / pi (Sheppard), rho_1 = the filter's lag-1
    autocorrelation. The kernel is the paper's, truncated at 3 sigma."""
    half = math.ceil(3 * sigma)
    x = torch.arange(-half, half + 1, dtype=torch.float64)
    k = torch.exp(-x**2 / (2 * sigma**2))
    h = torch.nn.functional.conv1d(
        torch.nn.functional.pad(k / k.sum(), (2, 2))[None, None],
        torch.tensor([[[-1., 2., -1.]]], dtype=torch.float64))[0, 0]
    rho = (h[:-1] * h[1:]).sum() / (h * h).sum()
    return 1 + (n - 1) * math.acos(rho) / math.pi


@pytest.mark.parametrize('sigma', [1.0, 3.0, 5.0, 8.0])
def test_region_count_on_white_noise_follows_the_arccos_law(sigma):
    """An independent count reference: 8 rows of 20000 white-noise tokens
    give the arc-cosine law's count to 3 % (measured: within 0.7 %; the
    per-row spread is 1-3 %). A module that skipped or mis-sized the
    smoothing, or cut runs elsewhere, would be off by tens of percent. The
    3 sigma truncation matters: at sigma 8 the cut kernel's edges dominate
    the second difference and there are more regions than at sigma 5."""
    g = torch.Generator().manual_seed(0)
    N = 20000
    info = torch.randn(8, N, generator=g, dtype=torch.float64)
    _, positive = smooth_and_sign(info, gaussian_kernel1d(sigma).double())
    _, n = sign_regions(positive)
    expected = _arccos_law_count(sigma, N)
    assert abs(n.double().mean() / expected - 1) < 0.03
    if sigma == 5.0:
        # untruncated Gaussian (Rice): N sqrt(5/2) / (pi sigma) = 2013
        assert 2550 < expected < 2650


def test_cluster_count_band_on_a_detr_encoder_input():
    """An untrained DETR-R50's encoder input (random-init ResNet-50
    features + input projection + sine positions of an 800x1333 synthetic
    aerial image; nothing is downloaded) clusters into fewer regions than
    white noise of the same length, whose count is the arc-cosine law's,
    and not into a handful: measured 0.36-0.37 of it at sigma 5 and
    0.30-0.52 at sigma 3 (3 seeds), ~20 keys per cluster at sigma 5. The
    band [0.2, 1] catches the unsmoothed signal (4.9x) or sigma 1 (2.3x)."""
    import numpy as np

    from crossdino.datasets.synthetic_aerial import render_aerial_image
    from crossdino.utils.build import drop_pretrained, init_weights_quietly
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/enact/detr_r50_visdrone_enact.py')).model
    drop_pretrained(cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    init_weights_quietly(model)
    model.eval()
    img, _ = render_aerial_image(np.random.default_rng(0), 1333, 800,
                                 (10, 300), (2, 64))
    s = DetDataSample(metainfo=dict(
        img_shape=(800, 1333), ori_shape=(800, 1333), scale_factor=(1., 1.)))
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)
    batch = model.data_preprocessor(dict(inputs=[x], data_samples=[s]))
    with torch.no_grad():
        enc_in, _ = model.pre_transformer(
            model.extract_feat(batch['inputs']), batch['data_samples'])
        attn = model.encoder.layers[0].self_attn
        feat, pos = enc_in['feat'], enc_in['feat_pos']
        assert feat.shape[1] == 25 * 42  # stride 32 of 800x1344 (padded)
        for sigma in (3.0, 5.0):
            attn.smooth_kernel = gaussian_kernel1d(sigma)
            n = int(attn.cluster(feat + pos, feat, enc_in['feat_mask'])
                    ['num_clusters'])
            ratio = n / _arccos_law_count(sigma, feat.shape[1])
            assert 0.2 < ratio < 1.0, (sigma, n, ratio)


def test_in_cluster_weights_near_uniform_unless_scaled():
    """The paper's in-cluster softmax of -p log p (values ~ log(N)/N) is
    within 1% of uniform; scale_weights=True makes the weights informative
    and leaves the regions unchanged."""
    torch.manual_seed(0)
    x = torch.randn(1, 1050, D)

    def deviation(**kw):
        attn = make_attn(sigma=5.0, **kw)
        cl = attn.cluster(x, x)
        ids, w = cl['cluster_ids'], cl['weights']
        size = torch.zeros(1, int(ids.max()) + 1).scatter_add(
            1, ids, torch.ones_like(w)).gather(1, ids)
        return ids, (w * size - 1).abs()

    ids, dev = deviation()
    assert dev.max() < 0.01
    ids_scaled, dev_scaled = deviation(scale_weights=True)
    assert torch.equal(ids, ids_scaled)
    assert dev_scaled.mean() > 0.1


def test_attn_mask_rejected():
    attn = make_attn()
    x = torch.randn(1, 5, D)
    with pytest.raises(NotImplementedError):
        attn(x, attn_mask=torch.zeros(5, 5, dtype=torch.bool))


def test_gradient_reaches_pdf_layer():
    attn = make_attn(sigma=1.0).train()
    B, H, W = 2, 6, 8
    x, pos = torch.randn(2, B, H * W, D).unbind(0)
    pad = rows_padding(B, H, W, [8, 5])
    x.requires_grad_(True)
    out = attn(x, query_pos=pos, key_padding_mask=pad)
    (out[~pad] ** 2).sum().backward()
    g = attn.pdf.weight.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
    assert attn.pdf.bias.grad is not None
    assert torch.isfinite(x.grad).all()
    # the p.d.f. is only reached through the in-cluster softmax weights:
    # with every token its own cluster there is no gradient to it
    attn.zero_grad()
    xs, ps = alternating_keys(1, 10)
    with torch.no_grad():
        attn.pdf.weight.zero_()
        attn.pdf.weight[0, 0] = 1.
    a1 = ENACTAttention(D, HEADS, batch_first=True, sigma=0.1)
    a1.load_state_dict(attn.state_dict())
    a1(xs, query_pos=ps).sum().backward()
    assert a1.pdf.weight.grad.abs().sum() == 0


def test_self_information_zero_on_padding():
    logits = torch.randn(2, 6)
    pad = torch.tensor([[0, 0, 0, 0, 1, 1], [0] * 6], dtype=torch.bool)
    info = self_information(logits, pad)
    assert (info[pad] == 0).all() and (info[~pad] > 0).all()
    sm, pos = smooth_and_sign(info, gaussian_kernel1d(1.0))
    assert sm.shape == pos.shape == info.shape


# ------------------------------------------------------------- detectors
def tiny_cfg(path, dims=32):
    cfg = copy.deepcopy(Config.fromfile(osp.join(ROOT, path)).model)
    cfg.backbone.update(depth=18, out_indices=(1, ), init_cfg=None)
    cfg.neck.update(in_channels=[128], out_channels=dims)
    cfg.num_queries = 8
    cfg.test_cfg.max_per_img = 8
    cfg.positional_encoding.num_feats = dims // 2
    cfg.bbox_head.embed_dims = dims
    for part in ('encoder', 'decoder'):
        cfg[part].num_layers = 1
        lc = cfg[part].layer_cfg
        for k in ('self_attn_cfg', 'cross_attn_cfg'):
            if k in lc:
                lc[k].update(embed_dims=dims, num_heads=4)
        lc.ffn_cfg.update(embed_dims=dims, feedforward_channels=32)
    return cfg


def fake_batch(shapes=((64, 80), (48, 56)), pad=(64, 80)):
    g = torch.Generator().manual_seed(0)
    inputs = torch.rand(len(shapes), 3, *pad, generator=g) * 255
    samples = []
    for (h, w) in shapes:
        s = DetDataSample(metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w), pad_shape=pad,
            batch_input_shape=pad, scale_factor=(1.0, 1.0)))
        gt = InstanceData()
        gt.bboxes = torch.tensor([[4., 6., 20., 30.], [30., 8., 40., 20.]])
        gt.labels = torch.tensor([1, 7])
        s.gt_instances = gt
        samples.append(s)
    return inputs, samples


@pytest.mark.parametrize('path,dtype,dims', [
    ('configs/enact/detr_r50_visdrone_enact.py', 'ENACTDETR', 32),
    # mmdet's conditional decoder hard-codes a 256-d sine embedding
    ('configs/enact/conditional-detr_r50_visdrone_enact.py',
     'ENACTConditionalDETR', 256),
    ('configs/enact/dab-detr_r50_visdrone_enact.py', 'ENACTDABDETR', 32),
])
def test_tiny_enact_detrs_train_and_predict(path, dtype, dims):
    cfg = tiny_cfg(path, dims)
    assert cfg.type == dtype
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    enc_attn = model.encoder.layers[0].self_attn
    assert isinstance(enc_attn, ENACTAttention)
    assert enc_attn.pdf.bias.abs().sum() == 0  # paper init
    inputs, samples = fake_batch()  # different sizes -> padding
    batch = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), True)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    for _ in range(2):
        losses = model.loss(batch['inputs'], batch['data_samples'])
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        assert torch.isfinite(loss)
        optim.zero_grad()
        loss.backward()
        assert enc_attn.pdf.weight.grad.abs().sum() > 0
        optim.step()
    stats = enc_attn.last_stats
    assert (stats['num_clusters'] < stats['num_keys']).all()
    model.eval()
    with torch.no_grad():
        preds = model.predict(batch['inputs'], batch['data_samples'])
    assert len(preds) == 2 and len(preds[0].pred_instances) == 8


def test_plain_detr_checkpoint_loads_into_enact_detr():
    plain = MODELS.build(tiny_cfg('configs/enact/detr_r50_visdrone.py'))
    enact = MODELS.build(tiny_cfg('configs/enact/detr_r50_visdrone_enact.py'))
    missing, unexpected = enact.load_state_dict(plain.state_dict(),
                                                strict=False)
    assert not unexpected
    assert missing == ['encoder.layers.0.self_attn.pdf.weight',
                       'encoder.layers.0.self_attn.pdf.bias']


# ------------------------------------------------ DINO: global ENACT layer
TINY_DINO = osp.join(ROOT, 'tests', 'configs', 'dino_tiny_synthetic.py')


def tiny_dino_cfg(global_enact):
    cfg = copy.deepcopy(Config.fromfile(TINY_DINO).model)
    cfg.type = 'ENACTDINO'
    dims = cfg.encoder.layer_cfg.self_attn_cfg.embed_dims
    cfg.global_enact = None if not global_enact else dict(
        num_levels=1,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=dims, num_heads=4, sigma=1.0),
            ffn_cfg=dict(embed_dims=dims, feedforward_channels=32)))
    return cfg


def test_enact_dino_off_equals_dino_and_on_trains():
    inputs, samples = fake_batch()
    base = copy.deepcopy(Config.fromfile(TINY_DINO).model)
    torch.manual_seed(0)
    dino = MODELS.build(base)
    off = MODELS.build(tiny_dino_cfg(False))
    off.load_state_dict(dino.state_dict())
    batch = dino.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), True)
    torch.manual_seed(1)
    l_ref = dino.train().loss(batch['inputs'], batch['data_samples'])
    torch.manual_seed(1)
    l_off = off.train().loss(batch['inputs'], batch['data_samples'])
    for k in l_ref:
        torch.testing.assert_close(l_off[k], l_ref[k], rtol=0, atol=0)

    torch.manual_seed(0)
    on = MODELS.build(tiny_dino_cfg(True))
    on.init_weights()
    assert isinstance(on.global_enact.self_attn, ENACTAttention)
    losses = on.train().loss(batch['inputs'], batch['data_samples'])
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    g = on.global_enact.self_attn.pdf.weight.grad
    assert g is not None and g.abs().sum() > 0
    on.eval()
    with torch.no_grad():
        preds = on.predict(batch['inputs'], batch['data_samples'])
    assert len(preds) == 2


def test_benchmark_fair_baseline_changes_no_output():
    """benchmark_enact.py's fair baseline runs the DETR encoder attention
    without materialising its weights: same outputs."""
    bench = load_tool('tools/benchmarks/benchmark_enact.py')
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg('configs/enact/detr_r50_visdrone.py'))
    model.init_weights()
    model.eval()
    inputs, samples = fake_batch()
    batch = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), False)
    with torch.no_grad():
        ref = model.predict(batch['inputs'], copy.deepcopy(samples))
        # the encoder's self-attention only (ENACT leaves the decoder)
        assert bench.drop_attention_weights(model) == 1
        got = model.predict(batch['inputs'], copy.deepcopy(samples))
    for a, b in zip(ref, got):
        torch.testing.assert_close(b.pred_instances.scores,
                                   a.pred_instances.scores)


def test_benchmark_memory_breakdown_sees_the_clustered_attention():
    """benchmark_enact.py's saved-for-backward breakdown: the same backbone
    bytes for DETR and ENACT-DETR (same input), less saved by the encoder's
    attention with clustered keys, every part accounted for."""
    bench = load_tool('tools/benchmarks/benchmark_enact.py')
    saved = {}
    for name, path in (('base', 'configs/enact/detr_r50_visdrone.py'),
                       ('enact', 'configs/enact/detr_r50_visdrone_enact.py')):
        torch.manual_seed(0)
        model = MODELS.build(tiny_cfg(path))
        model.init_weights()
        inputs, samples = fake_batch()
        batch = model.data_preprocessor(
            dict(inputs=list(inputs), data_samples=samples), True)
        saved[name] = bench.saved_breakdown(model, batch)
    base, enact = saved['base'], saved['enact']
    assert list(base) == ['backbone', 'neck', 'encoder attention',
                          'encoder FFN, norms', 'decoder', 'head', 'other']
    assert base['backbone'] == enact['backbone'] > 0
    assert 0 < enact['encoder attention'] < base['encoder attention']
    assert base['decoder'] > 0 and base['encoder FFN, norms'] > 0
