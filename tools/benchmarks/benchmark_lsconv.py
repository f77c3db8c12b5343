"""Micro benchmark: LinearSnakeConv against a 3x3 conv of the same channels.

Prints forward time (median of ``--repeats`` after ``--warmup`` runs) and
MACs side by side, and their ratios. MACs of convolutions are counted by
forward hooks (output elements x in/groups x kh x kw);
bilinear sampling (``grid_sample``) adds 4 MACs per sampled value. The
count is checked against ``lsconv_macs`` (the closed form).

    OMP_NUM_THREADS=1 .venv/bin/python tools/benchmarks/benchmark_lsconv.py \
        --shape 1 256 100 168 --repeats 3
"""
import argparse
import statistics
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--shape', type=int, nargs=4, default=[1, 256, 100, 168],
                   metavar=('B', 'C', 'H', 'W'))
    p.add_argument('--kernel-size', type=int, default=9)
    p.add_argument('--fusion', default='offset', choices=['offset', 'output'])
    p.add_argument('--linear-mode', default='slope',
                   choices=['slope', 'fixed'])
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--device', default='cpu')
    p.add_argument('--backward', action='store_true',
                   help='time forward + backward instead of forward only')
    return p.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from crossdino.models.layers.linear_snake_conv import (  # noqa: E402
    LinearSnakeConv, StripConv, lsconv_macs)


def conv_macs(model: nn.Module, x: torch.Tensor) -> int:
    """MACs of all convolutions in one forward (hook count): every
    ``nn.Conv2d`` called as a module, and every ``StripConv`` (which applies
    its strip weight functionally)."""
    total = [0]

    def hook(mod, inp, out):
        kh, kw = mod.kernel_size
        total[0] += out.numel() * (mod.in_channels // mod.groups) * kh * kw

    def strip_hook(mod, inp, out):
        _, C, K, _, _ = inp[0].shape
        total[0] += out.numel() * C * K

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Conv2d)]
    handles += [m.register_forward_hook(strip_hook) for m in model.modules()
                if isinstance(m, StripConv)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total[0]


def timeit(model, x, repeats, warmup, backward, device):
    sync = torch.cuda.synchronize if device.startswith('cuda') else (
        lambda: None)
    times = []
    for i in range(warmup + repeats):
        sync()
        t0 = time.perf_counter()
        if backward:
            model(x).sum().backward()
        else:
            with torch.no_grad():
                model(x)
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    args = parse_args(argv)
    B, C, H, W = args.shape
    torch.manual_seed(0)
    x = torch.randn(B, C, H, W, device=args.device,
                    requires_grad=args.backward)
    ls = LinearSnakeConv(C, C, kernel_size=args.kernel_size,
                         fusion=args.fusion,
                         linear_mode=args.linear_mode).to(args.device).eval()
    conv = nn.Conv2d(C, C, 3, padding=1).to(args.device).eval()

    closed = lsconv_macs(C, C, H, W, args.kernel_size, 2, args.linear_mode,
                         args.fusion)
    ls_conv_only = conv_macs(ls, x[:1]) if B else 0
    assert ls_conv_only == closed['total'] - closed['sampling'], (
        ls_conv_only, closed)
    macs = {'LinearSnakeConv': closed['total'] * B,
            'Conv2d 3x3': conv_macs(conv, x[:1]) * B}
    t = {'LinearSnakeConv': timeit(ls, x, args.repeats, args.warmup,
                                   args.backward, args.device),
         'Conv2d 3x3': timeit(conv, x, args.repeats, args.warmup,
                              args.backward, args.device)}
    params = {'LinearSnakeConv': sum(p.numel() for p in ls.parameters()),
              'Conv2d 3x3': sum(p.numel() for p in conv.parameters())}
    mode = 'fwd+bwd' if args.backward else 'fwd'
    print(f'input {tuple(args.shape)}, K={args.kernel_size}, '
          f'fusion={args.fusion}, linear_mode={args.linear_mode}, '
          f'device={args.device}, threads={torch.get_num_threads()}, '
          f'{mode}, median of {args.repeats}')
    print(f'{"module":<18}{"GMACs":>10}{"params(M)":>11}{"time(ms)":>11}')
    for k in macs:
        print(f'{k:<18}{macs[k] / 1e9:>10.3f}{params[k] / 1e6:>11.3f}'
              f'{t[k] * 1e3:>11.1f}')
    a, b = 'LinearSnakeConv', 'Conv2d 3x3'
    print(f'{"ratio LS/3x3":<18}{macs[a] / macs[b]:>10.2f}'
          f'{params[a] / params[b]:>11.2f}{t[a] / t[b]:>11.2f}')
    print('LSConv MACs by part (G): ' + ', '.join(
        f'{k}={v * B / 1e9:.3f}' for k, v in closed.items() if k != 'total'))


if __name__ == '__main__':
    main()
