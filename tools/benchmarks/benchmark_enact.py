"""Memory, time and key compression of DETR-R50 with and without ENACT.

One invocation measures three detectors: the baseline
(``configs/enact/detr_r50_visdrone.py``), the same baseline with its
encoder self-attention run without attention weights (``fair``; the
decoder, which ENACT leaves alone, is unchanged in all three), and ENACT
(``..._enact.py``). mmcv's ``MultiheadAttention`` calls PyTorch's with
``need_weights=True``, which materialises the head-averaged N x N weights
and keeps PyTorch off its fused ``scaled_dot_product_attention`` path;
ENACT never asks for the weights, so the fair comparison is ENACT against
``fair`` (PyTorch's SDPA path). Each model runs in its own fresh worker
process, one after the other, on the same batch, so that CPU peak RSS is
not polluted by another model; then all are timed in this process,
interleaved. Per detector it reports

- peak memory of a training step (loss + backward + AdamW step): on CUDA
  ``torch.cuda.max_memory_allocated`` (reset after the warm-up); on CPU the
  process peak RSS (``ru_maxrss``) and the growth of the peak over the RSS
  measured just before the first step (model + batch already resident);
- the memory breakdown: MiB of the tensors autograd saves for backward
  in one training forward, by part (backbone, neck, encoder attention,
  encoder FFN and norms, decoder, head, other = everything outside them:
  positional encodings, query selection, losses), each storage counted
  once for the first part that saves it (the neck's input is the
  backbone's saved output, so the neck shows ~0), weights left out: free
  of allocator effects, but it depends on the kernels the device runs;
- median time of a training step and of inference per image;
- for ENACT, the compression ratio of every encoder layer: key tokens before
  / clusters after (mean over the batch, from ``ENACTAttention.last_stats``).

The batch holds images of the synthetic VisDrone generator (real image
statistics, random-init detector: the p.d.f. layer is untrained, so the
compression is that of an untrained ENACT). Backbones are built without
pretrained weights (nothing is downloaded).

    # CPU default, a couple of minutes on 2 cores
    OMP_NUM_THREADS=2 python tools/benchmarks/benchmark_enact.py
    # the paper's setting (Table 1): 800x1333, batch 2, on a GPU
    python tools/benchmarks/benchmark_enact.py --device cuda \
        --shape 800 1333 --batch-size 2 --warmup 2 --iters 10
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
# Standard library only, loaded by path: through the package it would import
# torch and mmdet (crossdino/__init__) before any argument is checked.
_spec = importlib.util.spec_from_file_location(
    'crossdino_cli', osp.join(ROOT, 'crossdino', 'utils', 'cli.py'))
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)

BASE_CFG = 'configs/enact/detr_r50_visdrone.py'
ENACT_CFG = 'configs/enact/detr_r50_visdrone_enact.py'


def parse_args(argv=None):
    config = cli.existing_file('config file', root=ROOT)
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--base', type=config, default=BASE_CFG,
                   help='baseline config')
    p.add_argument('--enact', type=config, default=ENACT_CFG,
                   help='ENACT config')
    p.add_argument('--shape', type=int, nargs=2, default=(320, 512),
                   metavar=('H', 'W'), help='padded batch size (H W)')
    p.add_argument('--batch-size', type=int, default=2)
    p.add_argument('--num-gts', type=int, default=20)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--sigma', type=float, default=None,
                   help='override the ENACT sigma of the config')
    p.add_argument('--device', help='default: cuda when available, else cpu')
    p.add_argument('--out', default=None, help='write the results as JSON')
    p.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    p.add_argument('--no-attn-weights', action='store_true',
                   help=argparse.SUPPRESS)
    p.add_argument('--data-dir', default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import torch  # noqa: E402

from crossdino.utils.timing import rss_bytes, sync  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_images(data_dir, shape, batch_size):
    """Synthetic VisDrone images at the padded size (H, W)."""
    from crossdino.datasets.synthetic_visdrone import \
        generate_synthetic_visdrone
    h, w = shape
    generate_synthetic_visdrone(
        data_dir, num_images=dict(train=batch_size), img_size=(w, h),
        seed=0)


def load_batch(data_dir, shape, batch_size, num_gts, device):
    import glob

    import mmcv
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    files = sorted(glob.glob(osp.join(data_dir, 'VisDrone2019-DET-train',
                                      'images', '*.jpg')))[:batch_size]
    h, w = shape
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for i, f in enumerate(files):
        img = torch.from_numpy(mmcv.imread(f)).permute(2, 0, 1).float()
        # the second image is smaller: exercises the padding mask
        ih, iw = (h, w) if i == 0 else (h * 3 // 4, w * 3 // 4)
        img[:, ih:] = 0
        img[:, :, iw:] = 0
        inputs.append(img)
        s = DetDataSample(metainfo=dict(
            img_shape=(ih, iw), ori_shape=(ih, iw), pad_shape=(h, w),
            batch_input_shape=(h, w), scale_factor=(1., 1.)))
        xy = torch.rand(num_gts, 2, generator=g) * torch.tensor(
            [iw * .8, ih * .8])
        wh = 4 + torch.rand(num_gts, 2, generator=g) * 40
        gt = InstanceData()
        gt.bboxes = torch.cat([xy, xy + wh], 1)
        gt.labels = torch.randint(0, 10, (num_gts, ), generator=g)
        s.gt_instances = gt
        samples.append(s)
    return inputs, samples


def drop_attention_weights(model) -> int:
    """Run every mmcv ``MultiheadAttention`` of ``model``'s encoder (the
    part ENACT replaces; both decoders stay as they are) with
    ``need_weights=False`` (PyTorch's SDPA path); returns how many."""
    import functools

    from mmcv.cnn.bricks.transformer import MultiheadAttention
    found = [m for m in model.encoder.modules()
             if isinstance(m, MultiheadAttention)]
    for m in found:
        m.attn.forward = functools.partial(m.attn.forward, need_weights=False)
    return len(found)


def build(cfg_path, args, no_attn_weights=False):
    """Model (random init, no download), its optimizer and the batch."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config


    import crossdino  # noqa: F401
    from crossdino.utils.build import drop_pretrained, init_weights_quietly
    register_all_modules()
    cfg = Config.fromfile(osp.join(ROOT, cfg_path)).model
    drop_pretrained(cfg)
    if args.sigma is not None and cfg.type.startswith('ENACT'):
        cfg.encoder.layer_cfg.self_attn_cfg.sigma = args.sigma
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    init_weights_quietly(model)
    if no_attn_weights and not drop_attention_weights(model):
        raise ValueError(f'{cfg_path}: no mmcv MultiheadAttention to run '
                         'without attention weights')
    model.to(args.device)
    inputs, samples = load_batch(args.data_dir, args.shape, args.batch_size,
                                 args.num_gts, args.device)
    batch = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), True)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    return model, optim, batch


def train_step(model, optim, batch, device) -> float:
    model.train()
    sync(device)
    t0 = time.perf_counter()
    losses = model.loss(batch['inputs'], batch['data_samples'])
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    optim.zero_grad()
    loss.backward()
    optim.step()
    sync(device)
    return time.perf_counter() - t0


def infer(model, batch, device) -> float:
    model.eval()
    sync(device)
    t0 = time.perf_counter()
    with torch.no_grad():
        model.predict(batch['inputs'], batch['data_samples'])
    sync(device)
    return time.perf_counter() - t0


def saved_breakdown(model, batch) -> dict:
    """MiB saved for backward in one training forward, by part (the
    activation share of the peak; parameters and optimizer states come on
    top, the same for all three models)."""
    from crossdino.utils.timing import saved_for_backward
    groups = {'backbone': model.backbone, 'neck': model.neck,
              'encoder attention': [layer.self_attn
                                    for layer in model.encoder.layers],
              'encoder FFN, norms': model.encoder, 'decoder': model.decoder,
              'head': model.bbox_head}
    model.train()
    with saved_for_backward(groups, model) as saved:
        losses = model.loss(batch['inputs'], batch['data_samples'])
    del losses
    return {k: v / 2**20 for k, v in saved.items()}


def worker(args) -> dict:
    """Peak memory of training steps of ONE model in a fresh process."""
    from crossdino.models.layers import ENACTAttention
    model, optim, batch = build(args.worker, args, args.no_attn_weights)
    enact = [m for m in model.modules() if isinstance(m, ENACTAttention)]
    rss_before = rss_bytes() / 2**20
    for i in range(args.warmup + args.iters):
        if i == args.warmup and args.device.startswith('cuda'):
            torch.cuda.reset_peak_memory_stats()
        train_step(model, optim, batch, args.device)
    res = dict(config=args.worker, device=args.device,
               peak_rss_mib=peak_rss_mib(), rss_before_mib=rss_before)
    res['peak_growth_mib'] = res['peak_rss_mib'] - rss_before
    if args.device.startswith('cuda'):
        res['cuda_peak_mib'] = torch.cuda.max_memory_allocated() / 2**20
    # after the peaks: its extra forward runs beside the optimizer states
    res['saved_mib'] = saved_breakdown(model, batch)
    if enact:
        infer(model, batch, args.device)  # eval-mode statistics
        valid = enact[0].last_stats['num_valid_keys'].float()
        res['valid_keys'] = valid.tolist()
        res['clusters_per_layer'] = [
            m.last_stats['num_clusters'].float().tolist() for m in enact]
        # valid (unpadded) key tokens / clusters, mean over the images
        res['compression_per_layer'] = [
            (valid / m.last_stats['num_clusters'].float()).mean().item()
            for m in enact]
    return res


def timing(args) -> dict:
    """Both models in this process, steps interleaved (A, B, A, B, ...) so
    that the load of a shared machine hits both alike; medians."""
    models = {name: build(cfg, args, no_weights)
              for name, cfg, no_weights in variants(args)}
    train = {name: [] for name in models}
    test = {name: [] for name in models}
    for i in range(args.warmup + args.iters):
        for name, (model, optim, batch) in models.items():
            t = train_step(model, optim, batch, args.device)
            t_inf = infer(model, batch, args.device)
            if i >= args.warmup:
                train[name].append(t)
                test[name].append(t_inf / args.batch_size)
    return {name: dict(train_step_s=statistics.median(train[name]),
                       infer_s_per_img=statistics.median(test[name]))
            for name in models}


def variants(args):
    """(name, config, run without attention weights) of the three models."""
    return (('base', args.base, False), ('fair', args.base, True),
            ('enact', args.enact, False))


def main(argv=None):
    args = parse_args(argv)
    args.device = args.device or ('cuda' if torch.cuda.is_available() else
                                  'cpu')
    if args.worker:
        print('RESULT ' + json.dumps(worker(args)))
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        make_images(tmp, args.shape, args.batch_size)
        for name, cfg, no_weights in variants(args):
            cmd = [sys.executable, osp.abspath(__file__), '--worker', cfg,
                   '--data-dir', tmp, '--device', args.device,
                   '--shape', *map(str, args.shape),
                   '--batch-size', str(args.batch_size),
                   '--num-gts', str(args.num_gts),
                   '--warmup', str(args.warmup), '--iters', str(args.iters)]
            if args.sigma is not None:
                cmd += ['--sigma', str(args.sigma)]
            if no_weights:
                cmd.append('--no-attn-weights')
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  env=dict(os.environ), cwd=ROOT)
            line = [ln for ln in proc.stdout.splitlines()
                    if ln.startswith('RESULT ')]
            if proc.returncode != 0 or not line:
                sys.exit(f'{name} worker failed:\n{proc.stderr[-4000:]}')
            results[name] = json.loads(line[-1][len('RESULT '):])
        args.data_dir = tmp
        for name, t in timing(args).items():
            results[name].update(t)
    e = results['enact']
    mem = 'cuda_peak_mib' if 'cuda_peak_mib' in e else 'peak_growth_mib'

    def ratios(ref):
        b = results[ref]
        return dict(
            memory_ratio=e[mem] / b[mem],
            peak_rss_ratio=e['peak_rss_mib'] / b['peak_rss_mib'],
            train_time_ratio=e['train_step_s'] / b['train_step_s'],
            infer_time_ratio=e['infer_s_per_img'] / b['infer_s_per_img'])

    summary = dict(shape=list(args.shape), batch_size=args.batch_size,
                   memory_key=mem, **ratios('base'),
                   vs_fair=ratios('fair'),
                   compression_per_layer=e.get('compression_per_layer'))
    results['summary'] = summary
    print(f'shape {args.shape} batch {args.batch_size} device {args.device}')
    print(f'{"":8s}{mem:>18s}{"peak_rss_mib":>14s}{"train_s":>10s}'
          f'{"infer_s/img":>13s}')
    for name, _, _ in variants(args):
        r = results[name]
        print(f'{name:8s}{r[mem]:18.1f}{r["peak_rss_mib"]:14.1f}'
              f'{r["train_step_s"]:10.3f}{r["infer_s_per_img"]:13.3f}')
    for ref, label in (('base', 'base (mmcv, weights materialised)'),
                       ('fair', 'fair (need_weights=False, SDPA path)')):
        r = summary if ref == 'base' else summary['vs_fair']
        print(f'ENACT / {label}: memory ({mem}) {r["memory_ratio"]:.3f}; '
              f'train time {r["train_time_ratio"]:.3f}; '
              f'inference time {r["infer_time_ratio"]:.3f}')
    parts = list(e['saved_mib'])
    print('saved for backward (MiB): ' + ', '.join(parts))
    for name, _, _ in variants(args):
        print(f'{name:8s}' + ''.join(
            f'{results[name]["saved_mib"][k]:10.1f}' for k in parts)
            + f'  total {sum(results[name]["saved_mib"].values()):.1f}')
    if e.get('compression_per_layer'):
        print(f'valid keys per image {e["valid_keys"]}; keys/clusters per '
              'encoder layer: ' + ', '.join(
                  f'{c:.2f}' for c in e['compression_per_layer']))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
