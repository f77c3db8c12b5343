"""Inference speed and peak memory of a detector.

    python tools/analysis_tools/benchmark.py CONFIG [CHECKPOINT]
        [--shape H W] [--batch-size B] [--num-warmup N] [--num-iters N]
        [--device cpu|cuda] [--threads T] [--dataset] [--cfg-options k=v ...]

Times ``model.test_step`` (data preprocessor + forward + post-processing,
i.e. ``predict``) per batch. By default the batches are random HxW images
(default 800x1333, the size the VisDrone configs resize to) with the
metainfo a test pipeline would give; ``--dataset`` uses the config's
``test_dataloader`` instead (loading time excluded, --shape ignored).
Without CHECKPOINT the model keeps its random initialisation (the backbone's
pretrained ``init_cfg`` is dropped: no download).

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` over the timed
iterations (tensors only, allocator cache excluded); on the CPU the increase
of the process RSS over its value before the first iteration, sampled every
5 ms with psutil (or read from /proc when psutil is missing), plus the
process' lifetime peak RSS (``resource.getrusage``).
"""
import argparse
import importlib.util
import os.path as osp
import resource
import statistics
import sys
import threading
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
# Standard library only, loaded by path: through the package it would import
# torch and mmdet (crossdino/__init__) before any argument is checked.
_spec = importlib.util.spec_from_file_location(
    'crossdino_cli', osp.join(ROOT, 'crossdino', 'utils', 'cli.py'))
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Benchmark the inference speed of a detector')
    parser.add_argument(
        'config', type=cli.existing_file('config file'),
        help='config file path')
    parser.add_argument(
        'checkpoint', nargs='?', type=cli.existing_file('checkpoint'),
        help='checkpoint file; random initialisation when omitted')
    parser.add_argument(
        '--shape', type=int, nargs='+', default=[800, 1333],
        help='synthetic input size: H W, or one value for a square image')
    parser.add_argument(
        '--batch-size', type=int,
        help='images per batch (default: 1, or the test dataloader\'s with '
        '--dataset)')
    parser.add_argument(
        '--num-warmup', type=int, default=2,
        help='untimed iterations first (lazy init, allocator, caches)')
    parser.add_argument(
        '--num-iters', type=int, default=10, help='timed iterations')
    parser.add_argument(
        '--device', choices=['cpu', 'cuda'],
        help='device to run on (default: cuda when available)')
    parser.add_argument(
        '--threads', type=int,
        help='torch intra-op CPU threads (default: torch\'s choice; on a '
        'busy machine fewer threads can be much faster)')
    parser.add_argument(
        '--dataset', action='store_true',
        help='use the config\'s test dataloader instead of random images')
    cli.add_cfg_options_arg(parser)
    args = parser.parse_args(argv)
    if args.num_iters < 1 or args.num_warmup < 0:
        parser.error('--num-iters must be >= 1 and --num-warmup >= 0')
    for name in ('batch_size', 'threads'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, '
                         f'got {value}')
    return args


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import torch  # noqa: E402

import crossdino  # noqa: E402,F401  (registers modules, checkpoint loading)
from crossdino.utils import (build_detector_offline,  # noqa: E402
                             load_tool_config, parse_hw, random_test_batch)
from crossdino.utils.timing import rss_bytes  # noqa: E402


def dataset_batches(cfg, batch_size):
    """Batches of the config's test dataloader, restarted when exhausted."""
    from mmengine.runner import Runner
    if 'test_dataloader' not in cfg:
        raise KeyError(f'{cfg.filename}: --dataset needs a "test_dataloader"')
    loader_cfg = cfg.test_dataloader.copy()
    if batch_size is not None:
        loader_cfg['batch_size'] = batch_size
    loader = Runner.build_dataloader(loader_cfg)
    if len(loader) == 0:
        raise ValueError(f'{cfg.filename}: the test dataset is empty')
    while True:
        yield from loader


class RSSSampler:
    """Highest RSS seen by a background thread while the block runs."""

    def __init__(self, interval=0.005):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self):
        self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def run_benchmark(model, batches, num_warmup, num_iters, device):
    """Time ``model.test_step`` on ``num_iters`` batches after warm-up.

    Returns:
        dict: images, seconds (per batch), images/s and memory figures.
    """
    cuda = device.startswith('cuda')

    def step():
        data = next(batches)
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            model.test_step(data)
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start, len(data['inputs'])

    for _ in range(num_warmup):
        step()
    times, images = [], 0
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        for _ in range(num_iters):
            seconds, n = step()
            times.append(seconds)
            images += n
        memory = dict(kind='cuda max_memory_allocated',
                      peak=torch.cuda.max_memory_allocated(),
                      delta=torch.cuda.max_memory_allocated() - base)
    else:
        base = rss_bytes()
        with RSSSampler() as sampler:
            for _ in range(num_iters):
                seconds, n = step()
                times.append(seconds)
                images += n
        # ru_maxrss is in KiB on Linux.
        memory = dict(
            kind='cpu RSS',
            peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            delta=max(sampler.peak - base, 0))
    return dict(images=images, times=times,
                fps=images / sum(times), memory=memory)


def main(argv=None):
    args = parse_args(argv)
    height, width = parse_hw(args.shape)
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    elif args.device == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('--device cuda: no CUDA device is available')
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return benchmark_config(args, height, width)
    finally:
        torch.set_num_threads(threads)  # main() may be called in-process


def benchmark_config(args, height, width):
    """Build, run and report; returns run_benchmark's dict."""
    cfg = load_tool_config(args.config, args.cfg_options)
    model = build_detector_offline(cfg, args.checkpoint, args.device)
    if args.dataset:
        batches = dataset_batches(cfg, args.batch_size)
        source = 'test_dataloader'
    else:
        batch = random_test_batch(args.batch_size or 1, height, width)
        batches = iter(lambda: batch, None)  # the same batch every time
        source = f'random {height}x{width}'
    res = run_benchmark(model, batches, args.num_warmup, args.num_iters,
                        args.device)

    times = res['times']
    mean = statistics.mean(times)
    mem = res['memory']
    device = (torch.cuda.get_device_name() if args.device == 'cuda' else
              f'cpu, {torch.get_num_threads()} threads')
    rows = [
        ('config', args.config),
        ('weights', args.checkpoint or 'random init'),
        ('device', device),
        ('input', f'{source}, {res["images"] // len(times)} image(s)/batch'
         if not args.dataset else source),
        ('iterations', f'{len(times)} timed after {args.num_warmup} warm-up'),
        ('latency', f'{1000 * mean:.1f} ms/batch (min {1000 * min(times):.1f}'
         f', max {1000 * max(times):.1f})'),
        ('throughput', f'{res["fps"]:.3g} images/s'),
    ]
    if args.device == 'cuda':
        rows.append(('peak memory', f'{mem["peak"] / 2**20:.0f} MiB '
                     f'(torch.cuda.max_memory_allocated; '
                     f'+{mem["delta"] / 2**20:.0f} MiB over the weights)'))
    else:
        rows.append(('peak memory', f'+{mem["delta"] / 2**20:.0f} MiB RSS '
                     f'during inference (sampled); process peak RSS '
                     f'{mem["peak"] / 2**20:.0f} MiB (getrusage)'))
    width_ = max(len(k) for k, _ in rows)
    print('-' * 60)
    for key, value in rows:
        print(f'{key:<{width_}}  {value}')
    print('-' * 60)
    return res


if __name__ == '__main__':
    main()
