"""Parameters and FLOPs of a detector's forward pass.

    python tools/analysis_tools/get_flops.py CONFIG [--shape H W]
        [--cfg-options k=v ...]

Counts one ``model(inputs, data_samples, mode='tensor')`` call (backbone,
neck, transformer and head, no post-processing) on a batch of one HxW image
(default 800x1333; the image is not resized, it is the network input) with
``torch.utils.flop_counter.FlopCounterMode``. The model is built with random
weights (the backbone's pretrained ``init_cfg`` is dropped: no download) and
runs on the CPU, where mmcv's MultiScaleDeformableAttention takes its PyTorch
path (``F.grid_sample``) whose operations the counter can see; the CUDA
kernel would be invisible to it.

Convention: ``GFLOPs`` below follow fvcore / mmdet / the papers, i.e. one
multiply-add counts as one flop (they are GMACs). The raw FLOPs (1 MAC = 2
FLOPs, torch's own convention) are printed as well.

Counted: convolutions, matrix products (linear layers, attention) and
``grid_sampler_2d``, for which torch has no formula: bilinear sampling reads
4 neighbours and weights each, i.e. 4 multiply-adds per output element and
channel (nearest: 0, bicubic: 16); the per-location weight/coordinate
arithmetic, shared by all channels, is ignored. Not counted (as in torch's
counter): element-wise operations, normalisation, softmax, pooling,
interpolation, top-k, sorting.
"""
import argparse
import importlib.util
import os.path as osp
import sys
import time
from collections import OrderedDict

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
        description='Count the parameters and FLOPs of a detector')
    parser.add_argument(
        'config', type=cli.existing_file('config file'),
        help='config file path')
    parser.add_argument(
        '--shape', type=int, nargs='+', default=[800, 1333],
        help='input size: H W, or one value for a square image')
    cli.add_cfg_options_arg(parser)
    return parser.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import crossdino  # noqa: E402,F401  (registers modules)
from crossdino.utils import (build_detector_offline,  # noqa: E402
                             load_tool_config, parse_hw, random_test_batch)

# Multiply-adds per output element and channel of grid_sampler_2d, by its
# interpolation_mode argument (0 bilinear, 1 nearest, 2 bicubic).
GRID_SAMPLE_MACS = {0: 4, 1: 0, 2: 16}


def grid_sampler_2d_flop(input_shape, grid_shape, interpolation_mode,
                         padding_mode, align_corners, out_shape=None,
                         **kwargs):
    """FLOPs (2 per multiply-add) of ``aten.grid_sampler_2d``.

    The output is (N, C, Hg, Wg); each element is a weighted sum of the
    sampled neighbours of one channel.
    """
    n, c = input_shape[0], input_shape[1]
    hg, wg = grid_shape[1], grid_shape[2]
    macs = GRID_SAMPLE_MACS.get(int(interpolation_mode), 4)
    return 2 * macs * n * c * hg * wg


CUSTOM_FLOP_FORMULAS = {torch.ops.aten.grid_sampler_2d: grid_sampler_2d_flop}


def count_flops(module, *args, components=None, **kwargs):
    """Run ``module(*args, **kwargs)`` without grad under FlopCounterMode.

    Args:
        components (dict[str, nn.Module], optional): sub-modules to report
            separately; each gets every op run inside its ``forward``.

    Returns:
        tuple: (total FLOPs, {component name: FLOPs}, {op name: FLOPs},
        output). FLOPs count a multiply-add as 2.
    """
    counter = FlopCounterMode(display=False,
                              custom_mapping=CUSTOM_FLOP_FORMULAS)
    components = components or {}
    patched = []

    def tracked(label, forward):
        # torch's ModuleTracker sees only ``module(...)`` calls, but mmdet
        # detectors call e.g. ``self.bbox_head.forward(...)`` directly, so
        # the component is marked as running from inside its forward.
        def wrapper(*a, **kw):
            parents = counter.mod_tracker.parents
            added = label not in parents
            parents.add(label)
            try:
                return forward(*a, **kw)
            finally:
                if added:
                    parents.discard(label)
        return wrapper

    for name, sub in components.items():
        patched.append((sub, sub.__dict__.get('forward')))
        sub.forward = tracked(f'component:{name}', sub.forward)
    try:
        with torch.no_grad(), counter:
            out = module(*args, **kwargs)
    finally:
        for sub, previous in patched:
            del sub.forward
            if previous is not None:
                sub.forward = previous
    counts = counter.get_flop_counts()
    per_component = {
        name: sum(counts.get(f'component:{name}', {}).values())
        for name in components
    }
    per_op = OrderedDict(
        sorted(((str(op), n) for op, n in counts['Global'].items()),
               key=lambda kv: -kv[1]))
    return counter.get_total_flops(), per_component, per_op, out


def make_batch(model, batch_size, height, width, seed=0):
    """Random uint8 images with the metainfo a test pipeline would give,
    run through the model's data preprocessor (normalise, pad, stack)."""
    data = model.data_preprocessor(
        random_test_batch(batch_size, height, width, seed), False)
    return data['inputs'], data['data_samples']


def count_params(module):
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return total, trainable


def model_complexity(model, height, width):
    """Parameters and FLOPs of ``model`` per top-level child module."""
    inputs, samples = make_batch(model, 1, height, width)
    children = OrderedDict(model.named_children())
    start = time.perf_counter()
    total, per_child, per_op, _ = count_flops(
        model, inputs, samples, mode='tensor', components=children)
    seconds = time.perf_counter() - start
    root = type(model).__name__
    rows = OrderedDict()
    for name, child in children.items():
        # A child's count holds everything run inside its forward, including
        # modules of other children it calls (DINO's decoder runs the head's
        # reg_branches), so no op is counted in two rows.
        params, flops = count_params(child), per_child[name]
        if params[0] or flops:  # skip e.g. the data preprocessor
            rows[name] = dict(params=params, flops=flops)
    own = sum(p.numel() for p in model.parameters(recurse=False))
    own_trainable = sum(p.numel() for p in model.parameters(recurse=False)
                        if p.requires_grad)
    rest = total - sum(r['flops'] for r in rows.values())
    if own or rest:
        # Parameters held by the detector itself (e.g. DINO's level_embed)
        # and ops its own forward runs (e.g. query selection in pre_decoder).
        rows[f'({root} itself)'] = dict(
            params=(own, own_trainable), flops=rest)
    return dict(total_flops=total, params=count_params(model), rows=rows,
                per_op=per_op, seconds=seconds, input_shape=(1, 3, height,
                                                             width))


def format_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows)
              for i in range(len(header))]
    lines = ['  '.join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths)))
             for r in [header] + rows]
    rule = '-' * len(lines[0])
    return '\n'.join([rule, lines[0], rule] + lines[1:] + [rule])


def progress(message: str) -> None:
    """A line on stderr before each slow step (stdout keeps the tables):
    building a detector and running its forward pass under the counter can
    take minutes on a CPU, which would otherwise pass in silence."""
    print(f'get_flops: {message}', file=sys.stderr, flush=True)


def main(argv=None):
    args = parse_args(argv)
    height, width = parse_hw(args.shape)
    cfg = load_tool_config(args.config, args.cfg_options)
    progress(f'building the model of {args.config}')
    start = time.perf_counter()
    model = build_detector_offline(cfg)
    progress(f'built in {time.perf_counter() - start:.1f} s; counting one '
             f'forward pass of a 1x3x{height}x{width} input on the CPU')
    res = model_complexity(model, height, width)

    def g(flops):  # GMACs, i.e. fvcore-style GFLOPs
        return f'{flops / 2e9:.2f}'

    total_flops = res['total_flops']
    table = []
    for name, row in res['rows'].items():
        params, trainable = row['params']
        share = 100 * row['flops'] / total_flops if total_flops else 0
        table.append([name, f'{params / 1e6:.2f}', f'{trainable / 1e6:.2f}',
                      g(row['flops']), f'{share:.1f}%'])
    params, trainable = res['params']
    table.append(['total', f'{params / 1e6:.2f}', f'{trainable / 1e6:.2f}',
                  g(total_flops), '100.0%'])
    print(f'{args.config}: input {res["input_shape"]}, counted in '
          f'{res["seconds"]:.1f} s')
    print(format_table(
        ['module', 'params(M)', 'trainable(M)', 'GFLOPs', 'share'], table))
    print(format_table(
        ['operator', 'GFLOPs', 'share'],
        [[op, g(n), f'{100 * n / total_flops:.1f}%']
         for op, n in res['per_op'].items()]))
    print(f'Params: {params / 1e6:.2f} M (trainable {trainable / 1e6:.2f} M)')
    print(f'GFLOPs: {total_flops / 2e9:.2f} (fvcore convention: '
          f'1 multiply-add = 1 flop, i.e. GMACs)')
    print(f'FLOPs:  {total_flops / 1e9:.2f} G raw (1 multiply-add = 2 FLOPs)')
    print('Counted: conv, matmul/linear, grid_sample (bilinear = 4 MACs per '
          'output element and channel); element-wise ops, norms, softmax '
          'and pooling are not.')
    return res


if __name__ == '__main__':
    main()
