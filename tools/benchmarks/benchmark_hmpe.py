"""GFLOPs, parameters and latency of DINO+HMPE (3 decoder layers) vs DINO (6).

HMPE (Zeng, arXiv 2504.13469), Table 4: with the heatmap embedding, 3
decoder layers suffice, which lowers the cost. One invocation builds both
detectors (random init, no download) and measures, side by side:

- parameters (total);
- GFLOPs of one ``mode='tensor'`` forward of a single HxW image, counted as
  ``tools/analysis_tools/get_flops.py`` does (1 multiply-add = 1 flop;
  convolutions, matmuls and grid_sample; element-wise ops, top-k, sorting
  not counted), with the per-module split;
- inference latency (``model.predict``, batch 1, no grad): the two models
  alternate (A, B, A, B, ...) after a warm-up, so that the load of a shared
  machine hits both alike; medians.

Ratios are HMPE / DINO.

    OMP_NUM_THREADS=1 python tools/benchmarks/benchmark_hmpe.py \
        --shape 384 480 --iters 5
    # the paper's scale on a GPU
    python tools/benchmarks/benchmark_hmpe.py --shape 800 1333 --device cuda
"""
import argparse
import importlib.util
import json
import os.path as osp
import statistics
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
# Standard library only, loaded by path: through the package it would import
# torch and mmdet (crossdino/__init__) before any argument is checked.
_spec = importlib.util.spec_from_file_location(
    'crossdino_cli', osp.join(ROOT, 'crossdino', 'utils', 'cli.py'))
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)

BASE_CFG = 'configs/dino/dino-4scale_r50_visdrone.py'
HMPE_CFG = 'configs/hmpe/dino-4scale_r50_visdrone_hmpe_3dec.py'


def parse_args(argv=None):
    config = cli.existing_file('config file', root=ROOT)
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--base', type=config, default=BASE_CFG,
                   help='baseline config')
    p.add_argument('--hmpe', type=config, default=HMPE_CFG,
                   help='HMPE config')
    p.add_argument('--shape', type=int, nargs=2, default=(384, 480),
                   metavar=('H', 'W'), help='input image size (H W)')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--no-flops', action='store_true',
                   help='skip the FLOP count (latency and params only)')
    p.add_argument('--device', help='default: cuda when available, else cpu')
    p.add_argument('--out', default=None, help='write the results as JSON')
    return p.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import torch  # noqa: E402

from crossdino.utils.timing import sync  # noqa: E402


def _get_flops_module():
    """tools/analysis_tools/get_flops.py, imported from its path."""
    path = osp.join(ROOT, 'tools', 'analysis_tools', 'get_flops.py')
    spec = importlib.util.spec_from_file_location('_get_flops', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build(cfg_path):
    from mmengine.config import Config

    import crossdino  # noqa: F401
    from crossdino.utils import build_detector_offline
    torch.manual_seed(0)
    return build_detector_offline(Config.fromfile(osp.join(ROOT, cfg_path)))


def latency(models, batches, args) -> dict:
    """Median ``predict`` seconds per model, the models interleaved."""
    times = {name: [] for name in models}
    for i in range(args.warmup + args.iters):
        for name, model in models.items():
            inputs, samples = batches[name]
            sync(args.device)
            t0 = time.perf_counter()
            with torch.no_grad():
                model.predict(inputs, samples)
            sync(args.device)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None):
    args = parse_args(argv)
    args.device = args.device or ('cuda' if torch.cuda.is_available() else
                                  'cpu')
    gf = _get_flops_module()
    h, w = args.shape
    names = (('dino', args.base), ('hmpe', args.hmpe))
    models = {name: build(cfg) for name, cfg in names}
    res = {name: dict(config=cfg, params=gf.count_params(models[name])[0],
                      decoder_layers=models[name].decoder.num_layers)
           for name, cfg in names}
    if not args.no_flops:  # on the CPU, where MSDA's grid_sample is visible
        for name, model in models.items():
            c = gf.model_complexity(model, h, w)
            res[name]['gflops'] = c['total_flops'] / 2e9
            res[name]['gflops_per_module'] = {
                k: r['flops'] / 2e9 for k, r in c['rows'].items()}
    batches = {}
    for name, model in models.items():
        model.to(args.device)
        batches[name] = gf.make_batch(model, 1, h, w)
    for name, t in latency(models, batches, args).items():
        res[name]['latency_s'] = t
    d, m = res['dino'], res['hmpe']
    summary = dict(shape=[h, w], device=args.device,
                   threads=torch.get_num_threads(),
                   params_ratio=m['params'] / d['params'],
                   params_delta_m=(m['params'] - d['params']) / 1e6,
                   latency_ratio=m['latency_s'] / d['latency_s'])
    if 'gflops' in d:
        summary['gflops_ratio'] = m['gflops'] / d['gflops']
    res['summary'] = summary
    print(f'input {h}x{w}, batch 1, device {args.device}, '
          f'{summary["threads"]} thread(s), median of {args.iters}')
    print(f'{"":6s}{"dec":>5s}{"params(M)":>11s}{"GFLOPs":>9s}'
          f'{"latency(s)":>12s}  config')
    for name in ('dino', 'hmpe'):
        r = res[name]
        print(f'{name:6s}{r["decoder_layers"]:5d}{r["params"] / 1e6:11.2f}'
              f'{r.get("gflops", float("nan")):9.2f}{r["latency_s"]:12.3f}'
              f'  {r["config"]}')
    print('HMPE/DINO: params {:.3f} ({:+.2f} M), GFLOPs {}, latency {:.3f}'
          .format(summary['params_ratio'], summary['params_delta_m'],
                  f'{summary["gflops_ratio"]:.3f}'
                  if 'gflops_ratio' in summary else 'n/a',
                  summary['latency_ratio']))
    if 'gflops' in d:
        keys = list(dict.fromkeys(list(d['gflops_per_module']) +
                                  list(m['gflops_per_module'])))
        print('GFLOPs per module (dino / hmpe): ' + ', '.join(
            f'{k} {d["gflops_per_module"].get(k, 0):.2f}/'
            f'{m["gflops_per_module"].get(k, 0):.2f}' for k in keys))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == '__main__':
    main()
