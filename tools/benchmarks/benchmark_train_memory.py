"""Peak memory, decoder query count and time of one training step, for
variants of a config side by side, on one image with many objects.

Each variant (``--variant NAME key=value ...``, the pairs as
``--cfg-options``) trains two steps in its own fresh process, so the CPU
peak RSS of one does not pollute the next; the second step is timed and,
on CUDA, measured with ``torch.cuda.max_memory_allocated``. Backbones start
from random weights (nothing is downloaded). The ratios are to the first
variant.

    # bounded denoising on a dense image (issue 18)
    python tools/benchmarks/benchmark_train_memory.py --num-gts 2000 \\
        --variant unbounded --variant bounded-100 \\
        +model.dn_cfg.max_gts_per_image=100
    # activation checkpointing of the encoder at 800x1333
    python tools/benchmarks/benchmark_train_memory.py --shape 800 1333 \\
        --num-gts 100 --variant plain --variant encoder-cp \\
        +model.encoder.num_cp=6
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
# Standard library only, loaded by path: through the package it would import
# torch and mmdet before any argument is checked.
_spec = importlib.util.spec_from_file_location(
    'crossdino_cli', osp.join(ROOT, 'crossdino', 'utils', 'cli.py'))
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)
CONFIG = 'configs/cross_dino/cross-dino-4scale_r50_visdrone.py'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default=CONFIG,
                   type=cli.existing_file('config file', root=ROOT))
    p.add_argument('--shape', type=int, nargs=2, default=(512, 640),
                   metavar=('H', 'W'), help='image size')
    p.add_argument('--num-gts', type=int, default=2000,
                   help='objects in the image')
    p.add_argument('--variant', nargs='+', action='append', required=True,
                   metavar='NAME [key=value]')
    p.add_argument('--device', default=None)
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def worker(args, options) -> dict:
    import torch
    from mmdet.utils import register_all_modules
    from mmengine.config import DictAction

    import crossdino  # noqa: F401
    from crossdino.utils.build import build_detector_offline
    from crossdino.utils.config import load_tool_config
    from crossdino.utils.timing import record_decoder_queries, rss_bytes, sync
    from tests.conftest import padded_det_batch
    register_all_modules()
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='*', action=DictAction, default={})
    cfg = load_tool_config(osp.join(ROOT, args.config),
                           parser.parse_args(['--o', *options]).o)
    torch.manual_seed(0)
    model = build_detector_offline(cfg, device=args.device).train()
    h, w = args.shape
    inputs, samples = padded_det_batch(shapes=((h, w), ),
                                       num_gts=(args.num_gts, ), pad=(h, w))
    batch = model.data_preprocessor(
        dict(inputs=list(inputs * 255), data_samples=samples), True)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    seen = record_decoder_queries(model)
    rss0 = rss_bytes() / 2**20
    for step in range(2):
        if step == 1 and args.device.startswith('cuda'):
            torch.cuda.reset_peak_memory_stats()
        sync(args.device)
        t0 = time.perf_counter()
        losses = model.loss(batch['inputs'], batch['data_samples'])
        optim.zero_grad()
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        optim.step()
        sync(args.device)
    res = dict(decoder_queries=seen['queries'],
               step_s=time.perf_counter() - t0,
               peak_rss_growth_mib=resource.getrusage(
                   resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0)
    if args.device.startswith('cuda'):
        res['cuda_peak_mib'] = torch.cuda.max_memory_allocated() / 2**20
    return res


def main(argv=None):
    args = parse_args(argv)
    if args.device is None:
        import torch  # noqa: F811
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.worker is not None:
        print('RESULT ' + json.dumps(worker(args, json.loads(args.worker))))
        return
    rows = []
    for name, *options in args.variant:
        cmd = [sys.executable, osp.abspath(__file__), '--variant', name,
               '--worker', json.dumps(options), '--config', args.config,
               '--shape', *map(str, args.shape), '--num-gts',
               str(args.num_gts), '--device', args.device]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                              env=dict(os.environ))
        line = [ln for ln in proc.stdout.splitlines()
                if ln.startswith('RESULT ')]
        if proc.returncode != 0 or not line:
            sys.exit(f'variant {name} failed:\n{proc.stderr[-3000:]}')
        rows.append((name, json.loads(line[-1][len('RESULT '):])))
    mem = 'cuda_peak_mib' if 'cuda_peak_mib' in rows[0][1] else \
        'peak_rss_growth_mib'
    print(f'{args.config}: one {args.shape[0]}x{args.shape[1]} image, '
          f'{args.num_gts} objects, {args.device}')
    print(f'{"variant":<16s}{"decoder queries":>16s}{mem:>21s}'
          f'{"step (s)":>10s}{"memory":>8s}{"time":>7s}')
    ref = rows[0][1]
    for name, r in rows:
        print(f'{name:<16s}{r["decoder_queries"]:16d}{r[mem]:21.0f}'
              f'{r["step_s"]:10.2f}{r[mem] / ref[mem]:7.3f}x'
              f'{r["step_s"] / ref["step_s"]:6.3f}x')


if __name__ == '__main__':
    main()
