"""Latency of ViCrop-Det and its controls at one budget, side by side.

Rows (interleaved A, B, C, ... on the same fake batch so that load on a shared
machine hits all alike; medians), every cropping row at the same ``--budget``
of extra processed pixels (padding counted) and window size:

- ``plain``: the detector's own ``predict``;
- ``vicrop``: ViCrop-Det (``--window-ratio``, ``--crop-scale``);
- ``vicrop-Nq``: the same with ``--crop-num-queries`` decoder queries in the
  crop pass (less fixed decoder cost, less top-k padding);
- ``uniform`` / ``random``: tiles / random windows of the same size.

With random weights nothing is "salient", so ``min_mass_ratio`` is 0 here:
ViCrop always spends its budget (the worst case for latency). Crops come from
the network input (the fake batch has no files; cutting from the original
adds a decode and a resize per image). Also reported: the SAE computation
(hooked first pass minus plain first pass, plus splatting, entropy and window
selection) as a share of the plain first pass.

    python tools/benchmarks/benchmark_vicrop.py                 # CPU, ~2 min
    python tools/benchmarks/benchmark_vicrop.py --device cuda --shape 800 1333

Backbones are built without pretrained weights (nothing is downloaded).
"""
import argparse
import copy
import importlib.util
import math
import os.path as osp
import statistics
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
# Standard library only, loaded by path: through the package it would import
# torch and mmdet (crossdino/__init__) before any argument is checked.
_spec = importlib.util.spec_from_file_location(
    'crossdino_cli', osp.join(ROOT, 'crossdino', 'utils', 'cli.py'))
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)

CFG = 'configs/dino/dino-4scale_r50_visdrone.py'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', type=cli.existing_file('config file',
                                                      root=ROOT),
                   default=CFG, help='detector config')
    p.add_argument('--shape',
                   type=int,
                   nargs=2,
                   default=(384, 480),
                   metavar=('H', 'W'),
                   help='input size of the fake batch')
    p.add_argument('--batch-size', type=int, default=1)
    p.add_argument('--num-queries',
                   type=int,
                   default=None,
                   help='override num_queries (smaller = faster on CPU)')
    p.add_argument('--budget', type=float, default=0.25,
                   help='extra processed pixels per first-pass pixel')
    p.add_argument('--window-ratio', type=float, default=0.25,
                   help='window side / image side (0.25 at scale 2 = a '
                   'quarter canvas, 0.5 = the canvas)')
    p.add_argument('--crop-scale', type=float, default=2.0)
    p.add_argument('--crop-num-queries',
                   type=int,
                   default=300,
                   help='queries of the crop pass in the vicrop-Nq row')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--iters', type=int, default=2)
    p.add_argument('--device', help='default: cuda when available, else cpu')
    return p.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402

import crossdino  # noqa: E402,F401
from crossdino.models.tta import DecoderAttentionRecorder  # noqa: E402
from crossdino.models.tta import ViCropTTAModel  # noqa: E402
from crossdino.utils.build import build_detector_offline  # noqa: E402
from crossdino.utils.build import limit_queries  # noqa: E402
from crossdino.utils.timing import timed  # noqa: E402


def build(path, device, num_queries=None):
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(osp.join(ROOT, path))
    if num_queries is not None:
        limit_queries(cfg.model, num_queries)
    torch.manual_seed(0)
    return build_detector_offline(cfg, device=device)


def fake_batch(batch_size, shape, device, seed=0):
    from mmdet.structures import DetDataSample
    g = torch.Generator().manual_seed(seed)
    h, w = shape
    inputs = torch.randn(batch_size, 3, h, w, generator=g).to(device)
    samples = [
        DetDataSample(metainfo=dict(img_shape=(h, w),
                                    ori_shape=(h, w),
                                    pad_shape=(h, w),
                                    batch_input_shape=(h, w),
                                    scale_factor=(1.0, 1.0)))
        for _ in range(batch_size)
    ]
    return inputs, samples


def extra_pixels(tta, shape):
    """Crops per image and processed crop pixels per first-pass pixel."""
    costs = tta.last_debug['crop_cost']
    n_img = len(costs)
    px = float(sum(c.sum() for c in costs))
    return sum(len(c) for c in costs) / n_img, px / (n_img * shape[0] *
                                                     shape[1])


@torch.no_grad()
def sae_share(tta, inputs, samples, iters, device):
    """Median times: plain first pass, hooked first pass, maps + selection."""
    det = tta.module
    hp, wp = inputs.shape[-2:]
    grid = (math.ceil(hp / tta.grid_stride), math.ceil(wp / tta.grid_stride))
    plain, hooked, maps = [], [], []
    for _ in range(iters + 1):
        plain.append(
            timed(lambda: det.predict(inputs, copy.deepcopy(samples)), device))
        rec = DecoderAttentionRecorder(det, tta.layers)

        def run():
            with rec:
                det.predict(inputs, copy.deepcopy(samples))

        hooked.append(timed(run, device))

        def post():
            sae, sal = tta.attention_maps(rec, grid)
            for b, s in enumerate(samples):
                tta.choose_crops(s.metainfo['img_shape'], 0,
                                 dict(mass=sal[b], sae=sae[b]),
                                 rec.records[0]['num_heads'], s)

        maps.append(timed(post, device))
    med = [statistics.median(v[1:]) for v in (plain, hooked, maps)]
    return med


def main(argv=None):
    args = parse_args(argv)
    dev = torch.device(args.device or (
        'cuda' if torch.cuda.is_available() else 'cpu'))
    det = build(args.config, dev, args.num_queries)
    inputs, samples = fake_batch(args.batch_size, args.shape, dev)
    h, w = args.shape
    common = dict(min_mass_ratio=0.0, keep_debug=True, budget=args.budget,
                  window_ratios=(args.window_ratio, ),
                  crop_scale=args.crop_scale, crop_source='input')
    nq = min(args.crop_num_queries, det.num_queries)
    runners = {
        'plain': None,
        'vicrop': ViCropTTAModel(det, **common),
        f'vicrop-{nq}q': ViCropTTAModel(det, crop_num_queries=nq, **common),
        'uniform': ViCropTTAModel(det, mode='uniform', **common),
        'random': ViCropTTAModel(det, mode='random', **common),
    }

    def run(name):
        s = copy.deepcopy(samples)
        if runners[name] is None:
            return det.predict(inputs, s)
        return runners[name].predict(inputs, s)

    times = {n: [] for n in runners}
    with torch.no_grad():
        for it in range(args.warmup + args.iters):
            for n in runners:
                t = timed(lambda: run(n), dev)
                if it >= args.warmup:
                    times[n].append(t)
    med = {n: statistics.median(v) for n, v in times.items()}
    print(f'device: {dev}  config: {args.config}  input: {args.batch_size}x3x'
          f'{h}x{w}  queries: {det.num_queries}  decoder layers: '
          f'{len(det.decoder.layers)}  threads: {torch.get_num_threads()}')
    print(f'{"method":<16}{"latency (s)":>12}{"x plain":>9}{"crops/img":>11}'
          f'{"extra px":>10}')
    for n in runners:
        crops, px = 0.0, 0.0
        if runners[n] is not None:
            crops, px = extra_pixels(runners[n], args.shape)
        print(f'{n:<16}{med[n]:>12.3f}{med[n] / med["plain"]:>9.3f}'
              f'{crops:>11.1f}{px:>10.2f}')
    plain, hooked, post = sae_share(runners['vicrop'], inputs, samples,
                                    max(args.iters, 3), dev)
    share = (max(hooked - plain, 0.0) + post) / plain
    print(f'\nSAE: plain first pass {plain:.3f} s, with hooks {hooked:.3f} s, '
          f'splat+entropy+selection {post * 1e3:.1f} ms -> '
          f'{100 * share:.2f}% of the first pass')


if __name__ == '__main__':
    main()
