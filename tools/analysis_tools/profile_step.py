"""Where a training step (or a prediction) spends its time: the cProfile
call tree of one step on random images holding N objects each.

    python tools/analysis_tools/profile_step.py CONFIG [--shape 800 1333] \\
        [--num-gts 2000] [--batch 1] [--mode loss|predict] [--top 25] \\
        [--cfg-options key=value ...]

On CUDA, set ``CUDA_LAUNCH_BLOCKING=1``: each kernel then finishes inside
the Python call that launched it, so its time is charged to that call and not
to the next host sync (the Hungarian matching's ``.cpu()``, say). One step
runs unprofiled first (allocator, cudnn autotuning). Backbones start from
random weights; nothing is downloaded.
"""
import argparse
import cProfile
import importlib.util
import io
import os.path as osp
import pstats
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', type=cli.existing_file('config file', root=ROOT))
    p.add_argument('--shape', type=int, nargs=2, default=(800, 1333),
                   metavar=('H', 'W'))
    p.add_argument('--num-gts', type=int, default=100,
                   help='objects per image (2-16 px boxes)')
    p.add_argument('--batch', type=int, default=1)
    p.add_argument('--mode', choices=('loss', 'predict'), default='loss')
    p.add_argument('--top', type=int, default=25)
    p.add_argument('--device', help='default: cuda when available, else cpu')
    cli.add_cfg_options_arg(p)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from types import SimpleNamespace

    import torch
    from mmdet.utils import register_all_modules

    import crossdino  # noqa: F401
    from crossdino.utils.timing import sync
    _suite_spec = importlib.util.spec_from_file_location(
        'gpu_suite', osp.join(ROOT, 'tools', 'benchmarks', 'gpu_suite.py'))
    suite = importlib.util.module_from_spec(_suite_spec)
    _suite_spec.loader.exec_module(suite)
    register_all_modules()
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    size = SimpleNamespace(shape=tuple(args.shape), batch=args.batch,
                           num_gts=args.num_gts, num_queries=None)
    model = suite.build(args.config, size, device, args.cfg_options)
    data = suite.batch_for(model, size, training=args.mode == 'loss')
    if args.mode == 'loss':
        model.train()

        def step():
            suite.total_loss(model, data).backward()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model.predict(data['inputs'], data['data_samples'])

    step()  # warm-up
    sync(device)
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    step()
    sync(device)
    prof.disable()
    wall = time.perf_counter() - start
    out = io.StringIO()
    for key in ('cumulative', 'tottime'):  # the call tree, then the leaves
        pstats.Stats(prof, stream=out).sort_stats(key).print_stats(args.top)
    print(f'{args.config}: {args.mode}, {args.batch}x{args.shape[0]}x'
          f'{args.shape[1]}, {args.num_gts} objects per image, {device}: '
          f'{wall:.3f} s')
    print(out.getvalue().replace(ROOT + '/', ''))


if __name__ == '__main__':
    main()
