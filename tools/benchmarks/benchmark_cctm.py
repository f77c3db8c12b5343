"""Cost of Cross-DINO over DINO with the same backbone, measured in one run.

Reports parameters (80 classes, as in the paper's Table I: DINO-R50 47M,
Cross-DINO-R50 48M, "CCTM adds about 1M"), and the training-step time
(loss + backward + AdamW step) and inference latency of both detectors,
interleaved (A, B, A, B, ...) on the same fake batch so that load on a shared
machine hits both alike. Medians are reported with the Cross-DINO / DINO
ratio (target: CCTM overhead below 5%).

    python tools/benchmarks/benchmark_cctm.py                  # CPU, ~3 min
    python tools/benchmarks/benchmark_cctm.py --device cuda --shape 800 1333

Backbones are built without pretrained weights (nothing is downloaded).
"""
import argparse
import copy
import importlib.util
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

DINO_CFG = 'configs/cross_dino/baselines/dino-4scale_r50_8xb2-12e_coco.py'
CROSS_CFG = 'configs/cross_dino/cross-dino-4scale_r50_8xb2-12e_coco.py'


def parse_args(argv=None):
    config = cli.existing_file('config file', root=ROOT)
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--dino', type=config, default=DINO_CFG,
                   help='baseline config')
    p.add_argument('--cross', type=config, default=CROSS_CFG,
                   help='Cross-DINO config')
    p.add_argument('--shape', type=int, nargs=2, default=(320, 320),
                   metavar=('H', 'W'), help='input size of the fake batch')
    p.add_argument('--batch-size', type=int, default=1)
    p.add_argument('--num-gts', type=int, default=20,
                   help='ground-truth boxes per image (train step)')
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--iters', type=int, default=4)
    p.add_argument('--device', help='default: cuda when available, else cpu')
    p.add_argument('--no-train', action='store_true',
                   help='only parameters and inference latency')
    p.add_argument('--cfg-options', nargs='*', default=[],
                   help='key=value overrides applied to the Cross-DINO '
                   'model, e.g. cctm.mlp_ratio=2')
    return p.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402

import crossdino  # noqa: E402,F401
from crossdino.utils.build import drop_pretrained, init_weights_quietly  # noqa: E402,E501
from crossdino.utils.timing import count_params, timed  # noqa: E402


def build(path, device, overrides=()):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(osp.join(ROOT, path))
    model_cfg = copy.deepcopy(cfg.model)
    drop_pretrained(model_cfg)
    for item in overrides:
        key, value = item.split('=', 1)
        node = model_cfg
        *parents, leaf = key.split('.')
        for k in parents:
            node = node[k]
        node[leaf] = eval(value)  # noqa: S307 (numbers and strings)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    init_weights_quietly(model)
    return model.to(device)


def fake_batch(model, batch_size, shape, num_gts, device, seed=0):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(seed)
    h, w = shape
    samples = []
    for _ in range(batch_size):
        s = DetDataSample(metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
            batch_input_shape=(h, w), scale_factor=(1.0, 1.0)))
        xy = torch.rand(num_gts, 2, generator=g) * torch.tensor([w, h]) * .8
        wh = 4 + torch.rand(num_gts, 2, generator=g) * 60
        gt = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1).to(device),
            labels=torch.randint(0, 80, (num_gts, ), generator=g).to(device))
        s.gt_instances = gt
        samples.append(s)
    inputs = torch.rand(batch_size, 3, h, w, generator=g).to(device)
    return inputs, samples


def train_step(model, optim, inputs, samples):
    model.train()
    losses = model.loss(inputs, samples)
    total = sum(v.sum() for v in losses.values())
    optim.zero_grad()
    total.backward()
    optim.step()


@torch.no_grad()
def infer(model, inputs, samples):
    model.eval()
    model.predict(inputs, samples)


def time_cctm_alone(model, inputs, samples, iters, device, train):
    """Median time of the CCTM call on this batch's real memory shape."""
    captured = {}

    def hook(module, args, kwargs, out):
        captured['args'] = [a.detach() for a in args]
        captured['kwargs'] = kwargs

    handle = model.cctm.register_forward_hook(hook, with_kwargs=True)
    infer(model, inputs, samples)
    handle.remove()
    memory, feat = captured['args']
    kwargs = captured['kwargs']
    if train:
        memory.requires_grad_()

    def run():
        with torch.set_grad_enabled(train):
            out = model.cctm(memory, feat, **kwargs)
            if train:
                out.sum().backward()

    times = [timed(run, device) for _ in range(iters + 1)][1:]
    return statistics.median(times), tuple(memory.shape)


def main(argv=None):
    args = parse_args(argv)
    dev = torch.device(args.device or (
        'cuda' if torch.cuda.is_available() else 'cpu'))
    models = {'DINO': build(args.dino, dev),
              'Cross-DINO': build(args.cross, dev, args.cfg_options)}
    cctm = getattr(models['Cross-DINO'], 'cctm', None)
    print(f'device: {dev}  input: {args.batch_size}x3x{args.shape[0]}x'
          f'{args.shape[1]}  threads: {torch.get_num_threads()}')
    print(f'{"model":<12}{"params (M)":>12}')
    for name, m in models.items():
        print(f'{name:<12}{count_params(m) / 1e6:>12.3f}')
    delta = count_params(models['Cross-DINO']) - count_params(models['DINO'])
    print(f'{"difference":<12}{delta / 1e6:>12.3f}   (CCTM: '
          f'{(count_params(cctm) if cctm is not None else 0) / 1e6:.3f} M)')

    inputs, samples = fake_batch(models['DINO'], args.batch_size, args.shape,
                                 args.num_gts, dev)
    optims = {n: torch.optim.AdamW(m.parameters(), lr=1e-5)
              for n, m in models.items()}
    phases = [('inference', lambda n: infer(models[n], inputs, samples))]
    if not args.no_train:
        phases.insert(0, ('train step', lambda n: train_step(
            models[n], optims[n], inputs, samples)))
    results = {}
    for phase, fn in phases:
        times = {n: [] for n in models}
        for it in range(args.warmup + args.iters):
            for n in models:  # interleaved
                t = timed(lambda: fn(n), dev)
                if it >= args.warmup:
                    times[n].append(t)
        results[phase] = {n: statistics.median(v) for n, v in times.items()}
    print(f'\n{"phase":<12}{"DINO (s)":>12}{"Cross-DINO (s)":>16}'
          f'{"ratio":>8}{"CCTM alone (s)":>16}{"(DINO+CCTM)/DINO":>18}')
    for phase, r in results.items():
        ratio = r['Cross-DINO'] / r['DINO']
        t_cctm = float('nan')
        if cctm is not None:
            t_cctm, shape = time_cctm_alone(
                models['Cross-DINO'], inputs, samples, max(args.iters, 5),
                dev, train=phase == 'train step')
        r['CCTM'] = t_cctm
        print(f'{phase:<12}{r["DINO"]:>12.4f}{r["Cross-DINO"]:>16.4f}'
              f'{ratio:>8.3f}{t_cctm:>16.4f}'
              f'{(r["DINO"] + t_cctm) / r["DINO"]:>18.3f}')
    if cctm is not None:
        print(f'CCTM input (bs, tokens, C) = {shape}')
    return results


if __name__ == '__main__':
    main()
