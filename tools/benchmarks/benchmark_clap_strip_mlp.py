"""Measured targets of CLAP-Strip-MLP (issue 3) in one run.

    python tools/benchmarks/benchmark_clap_strip_mlp.py [--device cpu|cuda]
        [--shape H W] [--iters N] [--warmup N] [--threads T]
        [--skip-latency] [--skip-memory] [--memory-scope backbone|detector]

1. Parameters of the Strip-MLP variants (with the 1000-class head, as the
   official counts) and of DINO-CLAP-Strip-T / DINO-R50 at 80 classes
   (paper Table I: 44M / 47M) and at VisDrone's 10.
2. CLAP tiling per stage for 224, 512x512, 800x1333 and 1080x1920 inputs: token
   grid, tiles (rows x cols), seam overlaps, and the work ratio (tile tokens
   / map tokens), for the default ``'even'`` rule and MLP-DINO's rule.
3. Latency at ``--shape`` (default 800x1333), batch 1, inference
   (``mode='predict'``, data preprocessor excluded): DINO-CLAP-Strip-T and
   DINO-R50 from the repo's VisDrone configs with random weights, measured
   alternately in the same process; also both backbones alone, their
   GMACs (conv + matmul, 1 multiply-add = 1), and the share of the
   Strip-MLP backbone time spent in CLAP's tiling (gather + stitch) and in
   the tiled strip MLPs.
4. Peak memory of one training step at ``--shape``, batch 1, ``with_cp`` off
   and on: the backbone alone (default; ``with_cp`` only acts there) or the
   whole DINO-CLAP-Strip-T loss + backward (``--memory-scope detector``,
   about twice as slow on a CPU). CUDA: ``max_memory_allocated``. CPU: each
   measurement runs in a fresh subprocess and reports the rise of the peak
   RSS (``getrusage``) over the RSS before the step.

A default run takes about 4-5 minutes on a 2-core CPU (latency about 2.5,
memory about 1.5); the ``--skip-*`` flags, ``--iters`` and ``--shape`` cut it
down.

Timings on a shared CPU are noisy; the two detectors are interleaved so that
the ratio is fair even when the absolute numbers drift.
"""
import argparse
import json
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--device', help='default: cuda when available, else cpu')
    parser.add_argument(
        '--shape', type=int, nargs=2, default=[800, 1333], metavar=('H', 'W'))
    parser.add_argument('--iters', type=int, default=2)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument(
        '--threads', type=int, default=0, help='torch intra-op threads (0: default)')
    parser.add_argument('--skip-latency', action='store_true')
    parser.add_argument('--skip-memory', action='store_true')
    parser.add_argument(
        '--memory-scope', choices=['backbone', 'detector'], default='backbone')
    parser.add_argument(
        '--memory-worker', type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import torch  # noqa: E402
from crossdino.utils.timing import (count_params, rss_bytes, sync,  # noqa: E402,E501
                                    timed)

STRIP_CFG = osp.join(ROOT, 'configs', 'dino', 'dino-4scale_clap-strip-t_visdrone.py')
R50_CFG = osp.join(ROOT, 'configs', 'dino', 'dino-4scale_r50_visdrone.py')
OFFICIAL_PARAMS_M = {'tiny_light': 18.2, 'tiny': 24.9, 'small': 42.6, 'base': 57.2}
PAPER_DETECTOR_PARAMS_M = {'DINO-CLAP-Strip-T': 44, 'DINO-R50': 47}
TABLE_SIZES = [(224, 224), (512, 512), (800, 1333), (1080, 1920)]


def build_detector(path,
                   num_classes=None,
                   device='cpu',
                   init=True,
                   **backbone_overrides):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmdet.registry import MODELS
    import crossdino  # noqa: F401
    from crossdino.utils.build import drop_pretrained, init_weights_quietly
    cfg = Config.fromfile(path)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    drop_pretrained(cfg.model)  # random weights, no download
    cfg.model.backbone.update(backbone_overrides)
    if num_classes is not None:
        cfg.model.bbox_head.num_classes = num_classes
    model = MODELS.build(cfg.model)
    if init:
        init_weights_quietly(model)
    return model.to(device)


def report_params():
    from crossdino.models.backbones import CLAPStripMLP
    print('\n## Parameters (millions)\n')
    print('| model | ours | official / paper |')
    print('|---|---|---|')
    for arch, official in OFFICIAL_PARAMS_M.items():
        with torch.device('meta'):
            m = CLAPStripMLP(arch=arch)
        head = m.channels[3] * 1000 + 1000
        print(f'| Strip-MLP-{arch} classifier (backbone {count_params(m) / 1e6:.2f}M + head) '
              f'| {(count_params(m) + head) / 1e6:.2f} | {official} |')
    for name, path in (('DINO-CLAP-Strip-T', STRIP_CFG), ('DINO-R50', R50_CFG)):
        for classes in (80, 10):
            with torch.device('meta'):
                model = build_detector(path, classes, device='meta', init=False)
            paper = PAPER_DETECTOR_PARAMS_M[name] if classes == 80 else '-'
            print(
                f'| {name}, {classes} classes '
                f'(backbone {count_params(model.backbone) / 1e6:.2f}M) '
                f'| {count_params(model) / 1e6:.2f} | {paper} |')


def report_windows(depths=(2, 2, 12, 2)):
    from crossdino.models.layers import clap_window_table
    windows, strides = [56, 28, 14, 7], [4, 8, 16, 32]
    print('\n## CLAP tiles per image (Strip-T, input padded to a multiple of 32)\n')
    print(
        '| input | stage (stride, tile) | token grid | even: tiles '
        '| even: seam overlaps h / w '
        '| even: work | mlp_dino: tiles | mlp_dino: work |')
    print('|---|---|---|---|---|---|---|---|')
    summary = []
    for h, w in TABLE_SIZES:
        hp, wp = -(-h // 32) * 32, -(-w // 32) * 32
        even = clap_window_table(hp, wp, windows, strides, 'even')
        dino = clap_window_table(hp, wp, windows, strides, 'mlp_dino')
        for i, (e, d) in enumerate(zip(even, dino)):
            print(
                f'| {h}x{w} | {i} ({strides[i]}, {windows[i]}) '
                f'| {e["grid"][0]}x{e["grid"][1]} '
                f'| {e["tiles"][0]}x{e["tiles"][1]} = {e["num_tiles"]} '
                f'| {e["overlaps_h"] or "-"} / {e["overlaps_w"] or "-"} '
                f'| {e["work_ratio"]:.2f} '
                f'| {d["num_tiles"]} | {d["work_ratio"]:.2f} |')
        per_image = sum(e['num_tiles'] * n for e, n in zip(even, depths))
        summary.append((f'{h}x{w}', per_image))
    print(
        '\nStrip-MLP tile evaluations per image over all 18 blocks of T (even rule): ' +
        ', '.join(f'{s}: {n}' for s, n in summary))


def gmacs(module, *inputs):
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(*inputs)
    return counter.get_total_flops() / 2e9


class ClapTimer:
    """Time CLAP's gather/stitch and the tiled strip MLPs inside the backbone."""

    def __init__(self, device):
        from crossdino.models.backbones import clap_strip_mlp as csm
        self.csm, self.device = csm, device
        self.times = {'tiling (gather + stitch)': 0., 'tiled strip MLPs': 0.}

    def _timed(self, fn, key):

        def wrapped(*args, **kwargs):
            sync(self.device)
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            sync(self.device)
            self.times[key] += time.perf_counter() - start
            return out

        return wrapped

    def __enter__(self):
        csm = self.csm
        self.saved = (csm.clap_partition, csm.clap_merge,
                      csm.CascadeStripMixing.mix_tiles)
        csm.clap_partition = self._timed(csm.clap_partition, 'tiling (gather + stitch)')
        csm.clap_merge = self._timed(csm.clap_merge, 'tiling (gather + stitch)')
        csm.CascadeStripMixing.mix_tiles = self._timed(csm.CascadeStripMixing.mix_tiles,
                                                       'tiled strip MLPs')
        return self

    def __exit__(self, *exc):
        csm = self.csm
        (csm.clap_partition, csm.clap_merge,
         csm.CascadeStripMixing.mix_tiles) = self.saved


def report_latency(args):
    from mmdet.testing import demo_mm_inputs
    h, w = args.shape
    dev = args.device
    models = {
        name: build_detector(path, device=dev).eval()
        for name, path in (('DINO-CLAP-Strip-T', STRIP_CFG), ('DINO-R50', R50_CFG))
    }
    packed = demo_mm_inputs(1, [(3, h, w)], num_items=[5], num_classes=10, device=dev)
    data = models['DINO-R50'].data_preprocessor(packed, False)
    image = data['inputs']

    runs = {f'{n} (detector)': [] for n in models}
    runs.update({f'{n} (backbone)': [] for n in models})
    with torch.no_grad():
        for it in range(args.warmup + args.iters):
            for name, model in models.items():
                t_det = timed(lambda: model(**data, mode='predict'), dev)
                t_bb = timed(lambda: model.backbone(image), dev)
                if it >= args.warmup:
                    runs[f'{name} (detector)'].append(t_det)
                    runs[f'{name} (backbone)'].append(t_bb)
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f'\n## Latency at {h}x{w}, batch 1, {dev}, {torch.get_num_threads()} threads '
          f'(median of {args.iters}, alternating)\n')
    print('| model | seconds | all runs |')
    print('|---|---|---|')
    for k, v in runs.items():
        print(f'| {k} | {med[k]:.3f} | {", ".join(f"{t:.2f}" for t in v)} |')
    det = med['DINO-CLAP-Strip-T (detector)'] / med['DINO-R50 (detector)']
    bb = med['DINO-CLAP-Strip-T (backbone)'] / med['DINO-R50 (backbone)']
    print(
        f'\nlatency ratio DINO-CLAP-Strip-T / DINO-R50: detector {det:.2f}, '
        f'backbone {bb:.2f}'
    )

    strip = models['DINO-CLAP-Strip-T'].backbone
    r50 = models['DINO-R50'].backbone
    print(
        f'backbone GMACs at {h}x{w} (conv + matmul): '
        f'CLAP-Strip-T {gmacs(strip, image):.1f}, '
        f'R50 {gmacs(r50, image):.1f}')

    with torch.no_grad():
        total = []
        with ClapTimer(dev) as timer:
            for _ in range(max(args.iters, 1)):
                total.append(timed(lambda: strip(image), dev))
    total = sum(total)
    print(f'\nCLAP-Strip-T backbone time split at {h}x{w} (instrumented run, '
          f'{total / max(args.iters, 1):.3f} s per image):')
    for k, v in timer.times.items():
        print(f'- {k}: {100 * v / total:.1f}%')


def memory_step(args, with_cp):
    """One training step; returns the peak memory rise in MiB."""
    from mmdet.testing import demo_mm_inputs
    h, w = args.shape
    dev = args.device
    model = build_detector(
        STRIP_CFG, device=dev, with_cp=with_cp, norm_eval=True).train()
    packed = demo_mm_inputs(1, [(3, h, w)], num_items=[5], num_classes=10, device=dev)
    data = model.data_preprocessor(packed, True)
    if args.memory_scope == 'backbone':

        def step():
            sum(o.square().mean() for o in model.backbone(data['inputs'])).backward()
    else:

        def step():
            losses = model(**data, mode='loss')
            sum(v for k, v in losses.items() if 'loss' in k).backward()

    if dev.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    base = rss_bytes() / 2**20
    step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base


def report_memory(args):
    h, w = args.shape
    print(f'\n## Peak memory of a training step at {h}x{w}, batch 1, {args.device} '
          f'({args.memory_scope}, BN frozen as in the config)\n')
    print('| with_cp | peak rise (MiB) | step time (s) |')
    print('|---|---|---|')
    for with_cp in (False, True):
        if args.device.startswith('cuda'):
            start = time.perf_counter()
            mib = memory_step(args, with_cp)
            secs = time.perf_counter() - start
        else:
            cmd = [
                sys.executable, __file__, '--memory-worker',
                str(int(with_cp)), '--shape', *map(str, args.shape), '--device',
                args.device, '--memory-scope', args.memory_scope
            ]
            if args.threads:
                cmd += ['--threads', str(args.threads)]
            start = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            secs = time.perf_counter() - start
            mib = json.loads(out.strip().splitlines()[-1])['mib']
        print(f'| {with_cp} | {mib:.0f} | {secs:.1f} |')


def main(argv=None):
    args = parse_args(argv)
    args.device = args.device or ('cuda' if torch.cuda.is_available() else
                                  'cpu')
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_worker is not None:
        torch.manual_seed(0)
        print(json.dumps({'mib': memory_step(args, bool(args.memory_worker))}))
        return
    torch.manual_seed(0)
    report_params()
    report_windows()
    if not args.skip_latency:
        report_latency(args)
    if not args.skip_memory:
        report_memory(args)


if __name__ == '__main__':
    main()
