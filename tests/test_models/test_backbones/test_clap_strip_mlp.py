"""CLAP tiling, the CLAP-Strip-MLP backbone, official checkpoint loading and
DINO with the backbone.

Tiny models throughout (pretraining grid 64 or 32 px, so CLAP tiles of
16/8/4/2 or 8/4/2/1 tokens) so that every stage tiles with overlap on small
images. The official layout is generated here from the published
architecture and cross-checked against ../shared/specs when that file is
present; the reference forward below re-implements the official classifier's
operations directly on an official-layout state dict.
"""
import copy
import os.path as osp
import re
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from crossdino.models.backbones import clap_strip_mlp as csm
from crossdino.models.backbones import CLAPStripMLP, convert_strip_mlp_official
from crossdino.models.layers import (CLAP_MODES, clap_apply, clap_merge, clap_partition,
                                     window_plan)
from tests.conftest import load_tool

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
SPEC = osp.join(
    osp.dirname(ROOT), 'shared', 'specs', 'strip_mlp_official_state_dict.txt')
OFFICIAL_VARIANTS = {  # spec name -> (arch, embed_dims, depths)
    'T': ('tiny', 80, (2, 2, 12, 2)),
    'T_light': ('tiny_light', 80, (2, 2, 6, 2)),
    'S': ('small', 96, (2, 2, 18, 2)),
    'B': ('base', 112, (2, 2, 18, 2)),
}
# (embed_dims, depths, pretrain_img_size): strip groups 4 and 2 respectively.
TINY = [(16, (1, 1, 2, 1), 64), (80, (1, 1, 1, 1), 32)]


@pytest.fixture(autouse=True, scope='module')
def single_thread():
    """Tiny tensors: one intra-op thread is faster, and much faster when
    other jobs share the two cores (OpenMP workers spin otherwise)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# --------------------------------------------------------------------------
# Official layout and reference forward (independent of the module under test)
# --------------------------------------------------------------------------
def official_layout(embed_dims, depths, img_size=224, alpha=3, num_classes=1000):
    """OrderedDict key -> shape of the official Strip-MLP classifier."""
    shapes = OrderedDict()
    c0 = embed_dims
    shapes['patch_embed.weight'] = (c0, 3, 4, 4)

    def bn(prefix, n):
        for name in ('weight', 'bias', 'running_mean', 'running_var'):
            shapes[prefix + name] = (n, )
        shapes[prefix + 'num_batches_tracked'] = ()

    for s in range(4):
        c, r = c0 * 2**s, img_size // 4 // 2**s
        half = c // 2
        cg = half // (2 if c % 80 == 0 else 4)
        for i in range(depths[s]):
            p = f'blocks{s + 1}.{i}.token_mixing.smlp_block.'
            bn(p + 'BN.', half)
            for proj in ('proj_h', 'proj_w'):
                shapes[p + proj + '.weight'] = (cg * r, r, 1, 3)
                shapes[p + proj + '.bias'] = (cg * r, )
            shapes[p + 'fuse_h.weight'] = (half, c, 1, 1)
            shapes[p + 'fuse_w.weight'] = (half, c, 1, 1)
            shapes[p + 'mlp.0.weight'] = (c, c, 1, 1)
            shapes[p + 'mlp.0.bias'] = (c, )
            bn(p + 'mlp.1.', c)
            shapes[p + 'fc_h.weight'] = (half, 1, 3, 7)
            shapes[p + 'fc_w.weight'] = (half, 1, 7, 3)
            shapes[p + 'reweight.fc1.weight'] = (half // 2, half, 1, 1)
            shapes[p + 'reweight.fc1.bias'] = (half // 2, )
            shapes[p + 'reweight.fc2.weight'] = (3 * half, half // 2, 1, 1)
            shapes[p + 'reweight.fc2.bias'] = (3 * half, )
            shapes[p + 'fuse.weight'] = (c, c, 1, 1)
            shapes[p + 'relate_pos_h.embeddings_table'] = (2 * r + 1, half)
            shapes[p + 'relate_pos_w.embeddings_table'] = (2 * r + 1, half)
            p = f'blocks{s + 1}.{i}.token_mixing.dwsc.conv_merge.'
            bn(p + 'BN.', c)
            shapes[p + 'Conv.weight'] = (c, 1, 3, 3)
            p = f'blocks{s + 1}.{i}.channel_mixing.'
            shapes[p + 'conv_77.weight'] = (c, 1, 7, 7)
            shapes[p + 'layer_norm.weight'] = (c, )
            shapes[p + 'layer_norm.bias'] = (c, )
            shapes[p + 'fc1.weight'] = (alpha * c, c)
            shapes[p + 'fc1.bias'] = (alpha * c, )
            shapes[p + 'fc2.weight'] = (c, alpha * c)
            shapes[p + 'fc2.bias'] = (c, )
            shapes[p + 'grn.gamma'] = (1, 1, 1, alpha * c)
            shapes[p + 'grn.beta'] = (1, 1, 1, alpha * c)
    for k in range(1, 4):
        shapes[f'merging{k}.weight'] = (c0 * 2**k, c0 * 2**(k - 1), 2, 2)
    shapes['conv_s1_28.weight'] = (4 * c0, 1, 2, 2)
    shapes['conv_s1_14.weight'] = (8 * c0, 1, 2, 2)
    shapes['conv_s2_14.weight'] = (8 * c0, 1, 2, 2)
    shapes['head.weight'] = (num_classes, 8 * c0)
    shapes['head.bias'] = (num_classes, )
    bn('norm.', 8 * c0)
    return shapes


def random_official_state_dict(layout, seed=0):
    """Distinct random values per tensor; BN variances positive."""
    g = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    for key, shape in layout.items():
        if key.endswith('num_batches_tracked'):
            sd[key] = torch.tensor(7)
        elif key.endswith('running_var'):
            sd[key] = torch.rand(shape, generator=g) + 0.5
        else:
            sd[key] = torch.randn(shape, generator=g) * 0.2
    return sd


def parse_spec(path):
    variants, current = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            m = re.match(r'\[variant (\S+): .*; (\d+) tensors\]', line)
            if m:
                current = variants.setdefault(m.group(1), OrderedDict())
                continue
            if not line or line.startswith('#') or current is None:
                continue
            key, shape = line.split()
            current[key] = () if shape == 'scalar' else tuple(
                int(v) for v in shape.split('x'))
    return variants


def reference_forward(sd, x, depths):
    """The official classifier's feature path, op by op, from an official
    state dict (eval-mode BN). Returns the 4 stage outputs (last one normed)."""

    def bn(t, p):
        return F.batch_norm(t, sd[p + 'running_mean'], sd[p + 'running_var'],
                            sd[p + 'weight'], sd[p + 'bias'], False, 0., 1e-5)

    def rel_pos(table, h, w):
        r = (table.shape[0] - 1) // 2
        idx = (torch.arange(w)[None, :] - torch.arange(h)[:, None]).clamp(-r, r) + r
        return table[idx].permute(2, 0, 1)[None]

    def block(x, p):
        c = x.shape[1]
        t = bn(x, p + 'token_mixing.dwsc.conv_merge.BN.')
        t = F.conv2d(
            F.gelu(t),
            sd[p + 'token_mixing.dwsc.conv_merge.Conv.weight'],
            padding=1,
            groups=c)
        q = p + 'token_mixing.smlp_block.'
        t = F.gelu(
            bn(F.conv2d(t, sd[q + 'mlp.0.weight'], sd[q + 'mlp.0.bias']), q + 'mlp.1.'))
        x1, x2 = t[:, :c // 2], t[:, c // 2:]
        # cascade group strip mixing, with the official reshapes
        n, ch, h, w = x1.shape
        cg = ch // (2 if c % 80 == 0 else 4)
        c1 = ch // cg
        xh = x1 + rel_pos(sd[q + 'relate_pos_h.embeddings_table'], h, w)
        xh = xh.view(n, c1, cg, h, w).permute(0, 1, 3, 2, 4).reshape(n, c1, h, cg * w)
        xh = F.conv2d(
            xh.permute(0, 3, 1, 2),
            sd[q + 'proj_h.weight'],
            sd[q + 'proj_h.bias'],
            padding=(0, 1),
            groups=cg).permute(0, 2, 3, 1)
        xh = xh.reshape(n, c1, h, cg, w).permute(0, 1, 3, 2, 4).reshape(n, ch, h, w)
        xh = F.conv2d(torch.cat([xh, x1], 1), sd[q + 'fuse_h.weight'])
        xh = F.gelu(bn(xh, q + 'BN.')) + rel_pos(
            sd[q + 'relate_pos_w.embeddings_table'], h, w)
        xw = F.conv2d(
            xh.reshape(n, c1, cg * h, w).permute(0, 2, 1, 3),
            sd[q + 'proj_w.weight'],
            sd[q + 'proj_w.bias'],
            padding=(0, 1),
            groups=cg).permute(0, 2, 1, 3)
        s1 = F.conv2d(
            torch.cat([x1, xw.reshape(n, ch, h, w)], 1), sd[q + 'fuse_w.weight'])
        # local strip mixing
        a = F.conv2d(x2, sd[q + 'fc_h.weight'], padding=(1, 3), groups=ch)
        b = F.conv2d(x2, sd[q + 'fc_w.weight'], padding=(3, 1), groups=ch)
        att = F.adaptive_avg_pool2d(a + b + x2, 1)
        att = F.gelu(
            F.conv2d(att, sd[q + 'reweight.fc1.weight'], sd[q + 'reweight.fc1.bias']))
        att = F.conv2d(att, sd[q + 'reweight.fc2.weight'], sd[q + 'reweight.fc2.bias'])
        att = att.reshape(n, ch, 3).permute(2, 0, 1).softmax(0)[..., None, None]
        s2 = b * att[0] + a * att[1] + x2 * att[2]
        x = x + F.conv2d(torch.cat([s1, s2], 1), sd[q + 'fuse.weight'])
        # channel mixing
        r = p + 'channel_mixing.'
        t = F.conv2d(
            x, sd[r + 'conv_77.weight'], padding=3, groups=c).permute(0, 2, 3, 1)
        t = F.layer_norm(t, (c, ), sd[r + 'layer_norm.weight'],
                         sd[r + 'layer_norm.bias'])
        t = F.gelu(F.linear(t, sd[r + 'fc1.weight'], sd[r + 'fc1.bias']))
        gx = t.norm(p=2, dim=(1, 2), keepdim=True)
        t = sd[r + 'grn.gamma'] * (t * gx / (gx.mean(-1, keepdim=True) + 1e-6)) + sd[
            r + 'grn.beta'] + t
        return x + F.linear(t, sd[r + 'fc2.weight'], sd[r + 'fc2.bias']).permute(
            0, 3, 1, 2)

    def stage(x, s):
        for i in range(depths[s]):
            x = block(x, f'blocks{s + 1}.{i}.')
        return x

    c0 = sd['patch_embed.weight'].shape[0]
    x = stage(F.conv2d(x, sd['patch_embed.weight'], stride=4), 0)
    out = [x]
    x = F.conv2d(x, sd['merging1.weight'], stride=2)
    s1_14 = F.conv2d(x, sd['conv_s1_28.weight'], stride=2, groups=2 * c0)
    s1_7 = F.conv2d(s1_14, sd['conv_s1_14.weight'], stride=2, groups=4 * c0)
    x = stage(x, 1)
    out.append(x)
    x = F.conv2d(x, sd['merging2.weight'], stride=2)
    s2_7 = F.conv2d(x, sd['conv_s2_14.weight'], stride=2, groups=4 * c0)
    x = stage(x + s1_14, 2)
    out.append(x)
    x = F.conv2d(x, sd['merging3.weight'], stride=2)
    x = bn(stage(x + s1_7 + s2_7, 3), 'norm.')
    out.append(x)
    return out


def tiny_model(embed_dims=16, depths=(1, 1, 1, 1), pretrain=64, **kwargs):
    kwargs.setdefault('out_indices', (0, 1, 2, 3))
    return CLAPStripMLP(
        embed_dims=embed_dims, depths=depths, pretrain_img_size=pretrain, **kwargs)


# --------------------------------------------------------------------------
# CLAP tiling
# --------------------------------------------------------------------------
@pytest.mark.parametrize('mode', CLAP_MODES)
def test_tiling_covers_every_size(mode):
    for u in (1, 2, 3, 7, 14, 28, 56):
        for length in list(range(1, 400)) + [1000, 1333, 1920]:
            plan = window_plan(length, u, mode)
            assert plan['padded'] == max(length, u)
            cover = torch.zeros(plan['padded'], dtype=torch.long)
            for s in plan['starts']:
                assert 0 <= s <= plan['padded'] - u
                cover[s:s + u] += 1
            # every position once or twice: 2-way averages, as the paper's 0.5 weights
            assert 1 <= int(cover.min()) and int(cover.max()) <= 2, (mode, u, length,
                                                                     plan)
            if length <= u:
                assert plan['starts'] == [0]
            if mode == 'even':
                assert plan['num'] == -(-max(length, u) // u)  # fewest tiles


def test_tiling_against_paper_and_official_code():
    # Eq. 6 as printed, floor(67 / 56 + 0.5) = 1 window, would leave 11 rows out.
    assert window_plan(67, 56)['starts'] == [0, 11]
    # at multiples of the grid the tiles touch: 224 / 800x1344 padded maps
    assert window_plan(56, 56)['starts'] == [0]
    assert window_plan(336, 56)['starts'] == list(range(0, 336, 56))
    # the MLP-DINO rule reproduces its instrumented tilings (800x1333 and
    # 512x640 inputs, stage 1): starts, overlaps and the clamped last tile
    assert window_plan(200, 56, 'mlp_dino')['starts'] == [0, 48, 96, 144]
    assert window_plan(333, 56, 'mlp_dino')['starts'] == [0, 56, 112, 168, 224, 277]
    assert window_plan(128, 56, 'mlp_dino')['overlaps'] == [20, 20]
    assert window_plan(160, 56, 'mlp_dino')['overlaps'] == [4, 4]
    # its banker's rounding spends a fourth tile on exactly 3 grids
    assert window_plan(168, 56, 'mlp_dino')['num'] == 4
    assert window_plan(168, 56, 'even')['num'] == 3
    # fractional starts, by hand: 'even' rounds i * (P - u) / (n - 1) half
    # up (131: 37.5 -> 38; 201: 48.33 -> 48, 96.67 -> 97); 'mlp_dino' rounds
    # the overlap, (4 * 56 - 201) / 3 - 0.5 = 7.17 -> 7, steps of 49, and
    # clamps the last start 147 to 201 - 56 = 145
    assert window_plan(131, 56, 'even')['starts'] == [0, 38, 75]
    assert window_plan(201, 56, 'even')['starts'] == [0, 48, 97, 145]
    assert window_plan(201, 56, 'mlp_dino')['starts'] == [0, 49, 98, 145]


@pytest.mark.parametrize('mode', CLAP_MODES)
def test_identity_layer_returns_input_exactly(mode):
    g = torch.Generator().manual_seed(0)
    for u in (1, 2, 7, 16, 56):
        for h, w in [(1, 1), (1, 57), (3, 200), (16, 16), (17, 31), (56, 56), (57, 113),
                     (112, 168)]:
            x = torch.randn(2, 3, h, w, generator=g)
            y = clap_apply(x, u, lambda t: t, mode)
            assert torch.equal(y, x), (mode, u, h, w)


@pytest.mark.parametrize('mode', CLAP_MODES)
def test_overlaps_are_averaged(mode):
    """Give every tile a constant value: each position must get the mean of
    the tiles that cover it (computed here by brute force)."""
    u = 7
    for h, w in [(3, 5), (8, 7), (15, 22), (30, 41)]:
        x = torch.zeros(2, 1, h, w, dtype=torch.float64)
        tiles, layout = clap_partition(x, u, mode)
        values = torch.rand(tiles.shape[0], dtype=torch.float64)
        out = clap_merge(tiles + values[:, None, None, None], layout)
        rows, cols = window_plan(h, u, mode)['starts'], window_plan(w, u,
                                                                    mode)['starts']
        total = torch.zeros(2, max(h, u), max(w, u), dtype=torch.float64)
        count = torch.zeros_like(total)
        k = 0
        for b in range(2):
            for r in rows:
                for c in cols:
                    total[b, r:r + u, c:c + u] += values[k]
                    count[b, r:r + u, c:c + u] += 1
                    k += 1
        expected = (total / count)[:, :h, :w]
        torch.testing.assert_close(out[:, 0], expected)


def test_clap_is_one_batched_call_per_layer():
    """All tiles of all images go through the strip MLP in one call."""
    model = tiny_model().eval()
    calls = []

    def spy(layer):
        mix = layer.mix_tiles

        def wrapped(tiles):
            calls.append((layer.window, tiles.shape[0]))
            return mix(tiles)

        return wrapped

    for m in model.modules():
        if isinstance(m, csm.CascadeStripMixing):
            m.mix_tiles = spy(m)
    with torch.no_grad():
        model(torch.randn(3, 3, 100, 170))  # padded to 128x192: grids 32x48 .. 4x6
    assert len(calls) == sum(model.depths)
    for window, batch in calls:
        grid_h, grid_w = 128 * window // 64, 192 * window // 64
        per_image = -(-grid_h // window) * -(-grid_w // window)
        assert batch == 3 * per_image, (window, batch)


# --------------------------------------------------------------------------
# Backbone
# --------------------------------------------------------------------------
def test_variants_match_official_parameter_counts():
    head = {80: 640 * 1000 + 1000, 96: 768 * 1000 + 1000, 112: 896 * 1000 + 1000}
    expected = {'tiny_light': 18.24, 'tiny': 24.90, 'small': 42.57, 'base': 57.22}
    for arch, millions in expected.items():
        with torch.device('meta'):  # shapes only
            model = CLAPStripMLP(arch=arch)
        n = sum(p.numel() for p in model.parameters()) + head[model.embed_dims]
        assert round(n / 1e6, 2) == millions, arch
    assert CLAPStripMLP(arch='T').out_channels == [160, 320, 640]


@pytest.mark.parametrize('pad', [True, False])
def test_output_shapes_and_strides(pad):
    model = tiny_model(pad_to_stride=pad).eval()
    sizes = [(32, 32), (33, 47), (64, 64), (97, 45), (130, 70), (40, 200)]
    if pad:
        sizes += [(1, 1), (5, 9), (17, 31)]
    with torch.no_grad():
        for h, w in sizes:
            outs = model(torch.randn(1, 3, h, w))
            assert [o.shape[1] for o in outs] == [16, 32, 64, 128]
            for o, stride in zip(outs, model.strides):
                if pad:
                    expect = (-(-h // 32) * 32 // stride, -(-w // 32) * 32 // stride)
                else:  # floor at every stride-2 conv, like the official code
                    expect = (h // 4, w // 4)
                    for _ in range((stride // 4).bit_length() - 1):
                        expect = (expect[0] // 2, expect[1] // 2)
                assert tuple(o.shape[-2:]) == expect, (h, w, stride, o.shape)
    if not pad:
        with pytest.raises(ValueError):
            model(torch.randn(1, 3, 20, 64))


@pytest.mark.parametrize('mode', CLAP_MODES)
@pytest.mark.parametrize('train', [False, True])
def test_clap_equals_plain_at_pretraining_size(mode, train):
    model = tiny_model(depths=(1, 1, 2, 1), drop_path_rate=0., clap_mode=mode)
    plain = tiny_model(depths=(1, 1, 2, 1), drop_path_rate=0., clap=False)
    plain.load_state_dict(model.state_dict())
    model.train(train), plain.train(train)
    x = torch.randn(2, 3, 64, 64)
    for a, b in zip(model(x), plain(x)):
        assert torch.equal(a, b)
    with pytest.raises(ValueError):
        plain(torch.randn(1, 3, 96, 64))


def test_gradient_reaches_every_parameter():
    model = tiny_model(depths=(1, 1, 2, 1), drop_path_rate=0.).train()
    outs = model(torch.randn(2, 3, 90, 70))
    sum(o.square().mean() for o in outs).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_with_cp_same_outputs_and_gradients():
    model = tiny_model(drop_path_rate=0.1).train()
    ckpt = copy.deepcopy(model)
    for stage in ckpt.stages:
        stage.with_cp = True
    x = torch.randn(1, 3, 70, 90)
    results = []
    for m in (model, ckpt):
        torch.manual_seed(0)
        loss = sum(o.square().mean() for o in m(x))
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in m.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0])
    for g0, g1 in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(g0, g1)


def test_frozen_stages_and_norm_eval():
    model = tiny_model(frozen_stages=2, norm_eval=True).train()
    frozen = ('stem.', 'stages.0.', 'stages.1.', 'shortcut_8to16.', 'shortcut_8to32.')
    for name, p in model.named_parameters():
        assert p.requires_grad != name.startswith(frozen), name
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert not model.stages[1].training and model.stages[2].blocks[
        0].channel_mixing.training
    model = tiny_model(frozen_stages=0).train()
    assert not model.stem.weight.requires_grad and model.stages[0].training
    assert all(m.training for m in model.modules()
               if isinstance(m, torch.nn.BatchNorm2d))


# --------------------------------------------------------------------------
# Official checkpoints
# --------------------------------------------------------------------------
@pytest.mark.skipif(not osp.isfile(SPEC), reason='shared spec file not available')
def test_generated_layout_matches_published_spec():
    spec = parse_spec(SPEC)
    assert set(spec) == set(OFFICIAL_VARIANTS)
    for name, (_, c0, depths) in OFFICIAL_VARIANTS.items():
        assert official_layout(c0, depths) == spec[name], name


def test_full_tiny_official_state_dict_loads_every_tensor(monkeypatch):
    """Strip-MLP-T in the exact official layout: loads strictly, and every
    official tensor (minus the head) is in the model exactly once."""
    logs = []
    monkeypatch.setattr(csm, 'print_log', lambda msg, **kw: logs.append(msg))
    layout = official_layout(80, (2, 2, 12, 2))
    official = OrderedDict(
        (k, torch.empty(s, dtype=torch.long if not s else torch.float32))
        for k, s in layout.items())
    with torch.device('meta'):  # no init cost; assign=True puts the tensors in
        model = CLAPStripMLP(arch='tiny')
    model.load_state_dict(official, strict=True, assign=True)
    assert any('dropped the classifier head' in m and 'head.weight' in m for m in logs)
    ours = sorted(v.untyped_storage().data_ptr() for v in model.state_dict().values())
    theirs = sorted(v.untyped_storage().data_ptr() for k, v in official.items()
                    if not k.startswith('head.'))
    assert ours == theirs  # every official tensor exactly once, nothing else


@pytest.mark.parametrize('embed_dims,depths,pretrain', TINY)
def test_official_weights_reproduce_official_forward(embed_dims, depths, pretrain):
    """Values land where they belong: with an official-layout state dict the
    backbone computes what the official classifier computes.

    In float64 with a seeded input: the two paths order their reductions
    differently, and in float32 that noise reached 1e-4 on 0.5% of inputs;
    in float64 it is ~1e-12, so 1e-8 separates a wrong value from rounding.
    """
    official = OrderedDict(
        (k, v.double() if v.is_floating_point() else v)
        for k, v in random_official_state_dict(
            official_layout(embed_dims, depths, img_size=pretrain)).items())
    g = torch.Generator().manual_seed(embed_dims)
    x = torch.randn(2, 3, pretrain, pretrain, generator=g, dtype=torch.float64)
    with torch.no_grad():
        expected = reference_forward(official, x, depths)
        for clap in (False, True):
            model = tiny_model(embed_dims, depths, pretrain, clap=clap).double()
            model.load_state_dict(official)
            outs = model.eval()(x)
            for o, e in zip(outs, expected):
                torch.testing.assert_close(o, e, rtol=1e-8, atol=1e-8)


def test_pretrained_init_cfg_is_strict(tmp_path, monkeypatch):
    embed_dims, depths, pretrain = TINY[0]
    official = random_official_state_dict(
        official_layout(embed_dims, depths, img_size=pretrain))
    path = str(tmp_path / 'strip_mlp_official.pth')
    torch.save({'model': official, 'epoch': 300}, path)
    model = tiny_model(
        embed_dims, depths, pretrain, init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    x = torch.randn(1, 3, pretrain, pretrain)
    with torch.no_grad():
        for o, e in zip(model.eval()(x), reference_forward(official, x, depths)):
            torch.testing.assert_close(o, e, rtol=1e-4, atol=1e-4)

    # a converted checkpoint inside a detector checkpoint, with prefix
    converted, dropped = convert_strip_mlp_official(official)
    assert dropped == ['head.weight', 'head.bias']
    det_path = str(tmp_path / 'detector.pth')
    torch.save({'state_dict': {
        'backbone.' + k: v
        for k, v in converted.items()
    }}, det_path)
    model = tiny_model(
        embed_dims,
        depths,
        pretrain,
        init_cfg=dict(type='Pretrained', checkpoint=det_path, prefix='backbone.'))
    model.init_weights()
    torch.testing.assert_close(model.stem.weight, official['patch_embed.weight'])

    # a missing strip weight (MLP-DINO's silent failure mode) is an error
    broken = {
        k: v
        for k, v in official.items()
        if 'blocks2.0.token_mixing.smlp_block.proj_w' not in k
    }
    torch.save(broken, path)
    model = tiny_model(
        embed_dims, depths, pretrain, init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(
            KeyError, match='stages.1.blocks.0.token_mixing.strip.col_mix.weight'):
        model.init_weights()


def test_converter_tool(tmp_path):
    tool = load_tool('tools/model_converters/strip_mlp2crossdino.py')
    embed_dims, depths, pretrain = TINY[0]
    official = random_official_state_dict(
        official_layout(embed_dims, depths, img_size=pretrain))
    src, dst = str(tmp_path / 'in.pth'), str(tmp_path / 'out.pth')
    torch.save({'model': official}, src)
    tool.convert_file(src, dst)
    converted = torch.load(dst)['state_dict']
    model = tiny_model(embed_dims, depths, pretrain)
    model.load_state_dict(converted, strict=True)
    torch.testing.assert_close(
        model.stages[0].blocks[0].channel_mixing.mlp.grn.weight,
        official['blocks1.0.channel_mixing.grn.gamma'].reshape(-1))


# --------------------------------------------------------------------------
# DINO with the backbone
# --------------------------------------------------------------------------
def test_dino_with_clap_strip_mlp_loss_and_predict():
    from mmengine.config import Config
    from mmdet.registry import MODELS
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    register_all_modules()

    cfg = Config.fromfile(osp.join(ROOT, 'tests', 'configs', 'dino_tiny_synthetic.py'))
    cfg.model.backbone = dict(
        type='CLAPStripMLP',
        embed_dims=16,
        depths=(1, 1, 1, 1),
        pretrain_img_size=64,
        out_indices=(1, 2, 3),
        norm_eval=True,
        init_cfg=None)
    cfg.model.neck.in_channels = [32, 64, 128]
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    packed = demo_mm_inputs(
        2, [(3, 64, 96), (3, 56, 80)], num_items=[3, 2], num_classes=10)

    model.train()
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.stages[3].blocks[
        0].token_mixing.strip.col_mix.weight.grad is not None

    model.eval()
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, False), mode='predict')
    assert len(results) == 2
    for res in results:
        assert res.pred_instances.bboxes.shape[1] == 4
        assert len(res.pred_instances.scores) <= cfg.model.test_cfg.max_per_img
