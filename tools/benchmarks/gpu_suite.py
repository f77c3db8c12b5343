"""The project's GPU measurements in one call: one markdown file, one JSON.

Sections (``--sections``; each is timed, a failure is recorded with its
traceback and the next section runs; both files are rewritten after every
section, so a run stopped at its time limit keeps what it measured):

- ``env``: torch, CUDA, device, mmcv and whether its CUDA ops are built.
- ``msda``: mmcv's CUDA deformable-attention op against its PyTorch path at
  DINO's 800x1333 shapes: forward values, gradients, fwd+bwd time.
- ``models``: DINO-R50, Cross-DINO-R50, Cross-DINO-CLAP-Strip-T, HMPE-DINO
  (3 decoder layers) and DINO + global ENACT: training-step time and peak
  memory at 800x1333, batch 2 (100 objects per image), fp32 and bf16
  autocast; the bf16 (and, on CUDA, fp16) - fp32 loss difference on the same
  batch and weights; inference latency at batch 1, fp32 and bf16; ratios to
  DINO-R50 of the same run.
- ``dense``: one 800x1333 image with 2000 objects, unbounded denoising
  against ``max_gts_per_image=100`` (queries, peak memory, step time); and
  DINO-R50 with the encoder checkpointed (``num_cp=6``) against none.
- ``enact``: ENACT-DETR-R50, also with ``max_clusters=1.0`` (static shapes,
  no host read), against DETR-R50 run without attention weights (the fair
  baseline), step time and peak memory.
- ``vicrop``: ViCrop-Det latency over the plain pass at budgets 0.25 and 1
  (the default: one extra image of pixels), windows always spent.
- ``clap``: CLAP's share of the CLAP-Strip-T backbone's time.
- ``syncs``: host syncs in each detector's predict and loss (CUDA:
  ``torch.cuda.set_sync_debug_mode('warn')``; CPU: ATen ops), by call site;
  ENACT-DETR also in its static-shape mode (``max_clusters=1.0``).
- ``ddp``: ``tools/dist_train.sh`` with one process (NCCL on a GPU, gloo on
  the CPU) for two iterations on generated images; on a GPU also with
  ``--amp --amp-dtype bfloat16``.

Backbones start from random weights and the data are synthetic: nothing is
downloaded. Times are medians after warm-up; memory is
``torch.cuda.max_memory_allocated`` (peak RSS growth on the CPU).

    # one GPU, the stack installed (a bare machine: gpu_suite.sh)
    python tools/benchmarks/gpu_suite.py --out work_dirs/gpu_suite
    # CPU, every shape shrunk: the suite's own test (CI), under a minute
    python tools/benchmarks/gpu_suite.py --smoke --out /tmp/gpu_suite
"""
import argparse
import contextlib
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from types import SimpleNamespace

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)

SECTIONS = ('env', 'msda', 'models', 'dense', 'enact', 'vicrop', 'clap',
            'syncs', 'ddp')
MODELS = {
    'DINO-R50': 'configs/dino/dino-4scale_r50_visdrone.py',
    'Cross-DINO-R50': 'configs/cross_dino/cross-dino-4scale_r50_visdrone.py',
    'Cross-DINO-CLAP-Strip-T':
    'configs/cross_dino/cross-dino-4scale_clap-strip-t_visdrone.py',
    'HMPE-DINO-3dec': 'configs/hmpe/dino-4scale_r50_visdrone_hmpe_3dec.py',
    'DINO+global-ENACT':
    'configs/enact/dino-4scale_r50_visdrone_global-enact.py',
}
DETR = 'configs/enact/detr_r50_visdrone.py'
ENACT_DETR = 'configs/enact/detr_r50_visdrone_enact.py'
DN_CAP_CFG = 'configs/cross_dino/cross-dino-4scale_r50_visdrone.py'
DDP_CFG = 'tests/configs/dino_tiny_ddp.py'
# full size, and the smoke run's shrunk one
SIZES = dict(
    full=SimpleNamespace(shape=(800, 1333), batch=2, num_gts=100,
                         num_queries=None, dense_gts=2000, dn_cap=100,
                         warmup=1, iters=3, msda_queries=900),
    smoke=SimpleNamespace(shape=(64, 96), batch=2, num_gts=5, num_queries=20,
                          dense_gts=200, dn_cap=50, warmup=0, iters=1,
                          msda_queries=30))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, help='folder for the results')
    p.add_argument('--smoke', action='store_true',
                   help='shrink every shape (the CPU test of the suite)')
    p.add_argument('--sections', nargs='+', choices=SECTIONS,
                   default=list(SECTIONS))
    p.add_argument('--skip', nargs='+', choices=SECTIONS, default=[])
    p.add_argument('--device', help='default: cuda when available, else cpu')
    return p.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import torch  # noqa: E402

from crossdino.utils.timing import (count_params,  # noqa: E402
                                    record_decoder_queries, timed)

# the sibling benchmarks whose pieces the suite reuses
sys.path.insert(0, osp.join(ROOT, 'tools', 'benchmarks'))


# ---------------------------------------------------------------------------
# shared helpers
# ---------------------------------------------------------------------------
class Memory:
    """Peak memory of what runs inside: CUDA peak allocated, else the growth
    of the process's peak RSS (MiB)."""

    def __init__(self, device):
        self.cuda = torch.device(device).type == 'cuda'

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            import resource
            self._rss0 = resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss / 1024
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
            self.mib = torch.cuda.max_memory_allocated() / 2**20
        else:
            import resource
            self.mib = resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss / 1024 - self._rss0


def median_time(fn, device, warmup, iters):
    for _ in range(warmup):
        fn()
    return statistics.median(timed(fn, device) for _ in range(iters))


def load_cfg(path, size, options=None):
    from mmengine.config import Config

    from crossdino.utils.build import limit_queries
    cfg = Config.fromfile(osp.join(ROOT, path))
    if size.num_queries is not None:
        limit_queries(cfg.model, size.num_queries)
    if options:
        cfg.merge_from_dict(options)
    return cfg


def build(path, size, device, options=None):
    from crossdino.utils.build import build_detector_offline
    torch.manual_seed(0)
    return build_detector_offline(load_cfg(path, size, options),
                                  device=device)


def batch_for(model, size, batch=None, num_gts=None, training=True):
    """A preprocessed batch: ``batch`` random images at ``size.shape`` with
    ``num_gts`` boxes of 2-16 px each."""
    from tests.conftest import padded_det_batch
    h, w = size.shape
    batch = batch or size.batch
    n = size.num_gts if num_gts is None else num_gts
    inputs, samples = padded_det_batch(shapes=((h, w), ) * batch,
                                       num_gts=(n, ) * batch, pad=(h, w))
    data = dict(inputs=list(inputs * 255), data_samples=samples)
    return model.data_preprocessor(data, training)


def total_loss(model, data):
    """Sum of the detector's loss terms: a scalar tensor."""
    losses = model.loss(data['inputs'], data['data_samples'])
    return sum(v for k, v in losses.items() if 'loss' in k)


def amp(device_type, dtype):
    """Autocast to ``dtype``; ``None``: full precision."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=dtype)


def train_step_fn(model, data, optim, dtype=None):
    """A closure running one optimiser step on ``data`` (a preprocessed
    batch, ``inputs`` (B, 3, H, W)), under autocast to ``dtype`` if given."""
    dev = data['inputs'].device.type

    def step():
        with amp(dev, dtype):
            loss = total_loss(model, data)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
    return step


def measure_training(model, data, device, size, dtype=None):
    """Median step time (s) and peak memory (MiB) of training steps."""
    model.train()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-5)
    step = train_step_fn(model, data, optim, dtype)
    for _ in range(size.warmup):
        step()
    with Memory(device) as mem:
        t = median_time(step, device, 0, size.iters)
    del optim
    return t, mem.mib


def free(device):
    import gc
    gc.collect()
    if torch.device(device).type == 'cuda':
        torch.cuda.empty_cache()


def ratio(a, b):
    numbers = all(isinstance(v, (int, float)) for v in (a, b))
    return a / b if numbers and b else None


# ---------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------
def section_env(device, size):
    import mmcv
    import mmdet
    import mmengine
    res = dict(torch=torch.__version__, python=platform.python_version(),
               mmcv=mmcv.__version__, mmcv_path=osp.dirname(mmcv.__file__),
               mmdet=mmdet.__version__,
               mmengine=mmengine.__version__, device=str(device),
               threads=torch.get_num_threads())
    if torch.device(device).type == 'cuda':
        res.update(gpu=torch.cuda.get_device_name(),
                   cuda=torch.version.cuda,
                   gpu_memory_gib=round(torch.cuda.get_device_properties(
                       0).total_memory / 2**30, 1))
    try:
        res['commit'] = subprocess.run(
            ['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT,
            capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return res


def section_msda(device, size):
    """CUDA op vs PyTorch path on DINO's shapes (4 levels of an 800x1333
    input, 8 heads x 32 channels, 4 points)."""
    from mmcv.ops.multi_scale_deform_attn import (
        MultiScaleDeformableAttnFunction, multi_scale_deformable_attn_pytorch)
    h, w = size.shape
    g = torch.Generator().manual_seed(0)
    shapes = torch.tensor([[-(-h // s), -(-w // s)] for s in (8, 16, 32, 64)])
    starts = torch.cat([shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]])
    bs, nq, heads, ch, levels, points = 2, size.msda_queries, 8, 32, 4, 4
    value = torch.randn(bs, int(shapes.prod(1).sum()), heads, ch, generator=g)
    loc = torch.rand(bs, nq, heads, levels, points, 2, generator=g)
    weights = torch.rand(bs, nq, heads, levels, points,
                         generator=g).softmax(-1)
    grad = torch.randn(bs, nq, heads * ch, generator=g)
    tensors = [t.to(device) for t in (value, shapes, starts, loc, weights,
                                      grad)]
    value, shapes, starts, loc, weights, grad = tensors

    def run(fn):
        leaves = [t.detach().requires_grad_() for t in (value, loc, weights)]
        out = fn(*leaves)
        out.backward(grad)
        return out.detach(), [t.grad for t in leaves]

    paths = {'pytorch': lambda v, l_, a: multi_scale_deformable_attn_pytorch(
        v, shapes, l_, a)}
    res = dict(shapes=shapes.tolist(), queries=nq)
    if torch.device(device).type == 'cuda':
        paths['cuda_op'] = lambda v, l_, a: \
            MultiScaleDeformableAttnFunction.apply(v, shapes, starts, l_, a,
                                                   64)
    outs = {k: run(f) for k, f in paths.items()}
    for k, f in paths.items():
        res[f'{k}_fwd_bwd_ms'] = 1e3 * median_time(
            lambda: run(f), device, size.warmup, max(size.iters, 3))
    if 'cuda_op' in outs:
        (o_ref, g_ref), (o_cu, g_cu) = outs['pytorch'], outs['cuda_op']
        res['max_abs_diff_forward'] = float((o_cu - o_ref).abs().max())
        for name, a, b in zip(('value', 'locations', 'weights'), g_cu, g_ref):
            res[f'max_rel_diff_grad_{name}'] = float(
                (a - b).abs().max() / b.abs().max())
        res['speedup_cuda_op'] = ratio(res['pytorch_fwd_bwd_ms'],
                                       res['cuda_op_fwd_bwd_ms'])
    else:
        res['cuda_op'] = 'not run: no CUDA device'
    return res


def attempt(row, key, fn):
    """``row[key] = fn()``; an exception is recorded there instead, so one
    failing measurement leaves the others of its section."""
    try:
        row[key] = fn()
    except Exception as err:  # noqa: BLE001 -- reported, not raised
        traceback.print_exc()
        row[key] = f'error: {type(err).__name__}: {str(err)[:300]}'
    return row[key]


def _losses(model, data, dtype):
    """The summed loss (a float) of one forward pass under ``dtype``."""
    dev = data['inputs'].device.type
    torch.manual_seed(1)  # the same denoising noise in every precision
    with torch.no_grad(), amp(dev, dtype):
        return float(total_loss(model, data))


def _one_model(name, path, device, size):
    model = build(path, size, device)
    data = batch_for(model, size)
    row = dict(config=path, params_m=round(count_params(model) / 1e6, 2))
    dev = torch.device(device).type
    precisions = [('fp32', None), ('bf16', torch.bfloat16)]
    if dev == 'cuda':  # CPU autocast lacks fp16 kernels
        precisions.append(('fp16', torch.float16))
    model.train()
    for label, dtype in precisions:
        loss = attempt(row, f'loss_{label}',
                       lambda: _losses(model, data, dtype))
        if dtype is not None and isinstance(loss, float) and isinstance(
                row.get('loss_fp32'), float):
            row[f'loss_rel_diff_{label}'] = abs(loss - row['loss_fp32']) / \
                abs(row['loss_fp32'])
    for label, dtype in precisions[:2]:
        timing = attempt(row, f'train_{label}', lambda: measure_training(
            model, data, device, size, dtype))
        if isinstance(timing, tuple):
            row[f'train_{label}_s'], row[f'train_{label}_mib'] = \
                row.pop(f'train_{label}')
    model.eval()
    one = batch_for(model, size, batch=1, training=False)

    def infer(dtype):
        with torch.no_grad(), amp(dev, dtype):
            return median_time(
                lambda: model.predict(one['inputs'], one['data_samples']),
                device, size.warmup, max(size.iters, 3))

    for label, dtype in precisions[:2]:
        attempt(row, 'infer_b1_s' if dtype is None else
                f'infer_b1_{label}_s', lambda: infer(dtype))
    return row


def section_models(device, size):
    rows = {}
    for name, path in MODELS.items():
        attempt(rows, name, lambda: _one_model(name, path, device, size))
        free(device)
    ref = rows.get('DINO-R50')
    for row in rows.values():
        if not isinstance(row, dict) or not isinstance(ref, dict):
            continue
        for key in ('train_fp32_s', 'train_fp32_mib', 'train_bf16_s',
                    'train_bf16_mib', 'infer_b1_s', 'infer_b1_bf16_s'):
            row[f'{key}_x_dino'] = ratio(row.get(key), ref.get(key))
    return rows


def _train_only(path, size, device, options=None, num_gts=None,
                batch=None, fair=False, breakdown=False):
    """Median step time and peak memory of ``path``'s detector (decoder
    query count too, for DETRs with ``forward_decoder``); ``fair``: encoder
    attention without materialised weights (ENACT's baseline);
    ``breakdown``: also the MiB saved for backward by each part of a DETR
    (``benchmark_enact.saved_breakdown``: which attention kernel ran shows
    in what the encoder attention keeps)."""
    from benchmark_enact import drop_attention_weights, saved_breakdown
    model = build(path, size, device, options)
    if fair:
        drop_attention_weights(model)
    data = batch_for(model, size, batch=batch, num_gts=num_gts)
    seen = record_decoder_queries(model) if hasattr(
        model, 'forward_decoder') else {}
    t, mib = measure_training(model, data, device, size)
    row = dict(decoder_queries=seen.get('queries'), step_s=t, peak_mib=mib)
    if breakdown:  # after the peak: its forward runs beside the optimizer
        saved = saved_breakdown(model, data)
        row['saved_attn_mib'] = saved['encoder attention']
        row['saved_total_mib'] = sum(saved.values())
    del model, data
    free(device)
    return row


def section_dense(device, size):
    res = {}
    for name, opts in (('unbounded', None),
                       (f'max_gts_per_image={size.dn_cap}',
                        {'model.dn_cfg.max_gts_per_image': size.dn_cap})):
        attempt(res, f'dn {name}', lambda: _train_only(
            DN_CAP_CFG, size, device, opts, num_gts=size.dense_gts, batch=1))
    for name, opts in (('encoder plain', None),
                       ('encoder num_cp=6', {'model.encoder.num_cp': 6})):
        attempt(res, name, lambda: _train_only(MODELS['DINO-R50'], size,
                                               device, opts))
    for a, b in (('dn max_gts_per_image', 'dn unbounded'),
                 ('encoder num_cp=6', 'encoder plain')):
        a = next(k for k in res if k.startswith(a))
        _relative(res[a], res[b])
    return res


def _relative(row, base):
    """Memory and time of ``row`` as ratios to ``base`` (both measured)."""
    if isinstance(row, dict) and isinstance(base, dict):
        row['memory_x'] = ratio(row['peak_mib'], base['peak_mib'])
        row['time_x'] = ratio(row['step_s'], base['step_s'])


def section_enact(device, size):
    """ENACT-DETR against its fair base; also in its static-shape mode
    (``max_clusters=1.0``: exact, no read of the cluster count, keys padded
    to N)."""
    res = {}
    static = {'model.encoder.layer_cfg.self_attn_cfg.max_clusters': 1.0}
    for name, path, fair, opts in (
            ('DETR-R50 (need_weights=False)', DETR, True, None),
            ('ENACT-DETR-R50', ENACT_DETR, False, None),
            ('ENACT-DETR-R50 max_clusters=1.0', ENACT_DETR, False, static)):
        attempt(res, name, lambda: _train_only(path, size, device, opts,
                                               fair=fair, breakdown=True))
    base, *enact = res.values()
    for row in enact:
        _relative(row, base)
    return res


def section_vicrop(device, size):
    from crossdino.models.tta import ViCropTTAModel
    det = build(MODELS['DINO-R50'], size, device)
    one = batch_for(det, size, batch=1, training=False)
    runners = {'plain': None}
    # budget 1 with canvas-size crops (the defaults); 0.25 with quarter
    # windows (a canvas crop alone costs one image), as in configs/vicrop
    for budget, window in ((0.25, 0.25), (1.0, 0.5)):
        runners[f'vicrop budget={budget}'] = ViCropTTAModel(
            det, budget=budget, window_ratios=(window, ), min_mass_ratio=0.0,
            crop_source='input', keep_debug=True)
    times = {k: [] for k in runners}
    with torch.no_grad():
        for it in range(size.warmup + max(size.iters, 3)):
            for k, r in runners.items():  # interleaved: drift hits all
                m = det if r is None else r
                t = timed(lambda: m.predict(
                    one['inputs'], [s.clone() for s in one['data_samples']]),
                    device)
                if it >= size.warmup:
                    times[k].append(t)
    res = {}
    for k, r in runners.items():
        res[k] = dict(latency_s=statistics.median(times[k]))
        res[k]['x_plain'] = ratio(res[k]['latency_s'],
                                  statistics.median(times['plain']))
        if r is not None:
            res[k]['crops'] = int(sum(len(c) for c in
                                      r.last_debug['crop_cost']))
    del det, runners
    free(device)
    return res


def section_clap(device, size):
    from benchmark_clap_strip_mlp import ClapTimer
    model = build(MODELS['Cross-DINO-CLAP-Strip-T'], size, device)
    image = batch_for(model, size, batch=1, training=False)['inputs']
    backbone = model.backbone
    with torch.no_grad():
        plain = median_time(lambda: backbone(image), device, size.warmup,
                            max(size.iters, 3))
        with ClapTimer(device) as timer:
            total = sum(timed(lambda: backbone(image), device)
                        for _ in range(max(size.iters, 3)))
    res = dict(backbone_s=plain)
    for k, v in timer.times.items():
        res[f'share {k}'] = v / total
    del model
    free(device)
    return res


def _syncs(path, opts, size, device, cuda):
    from crossdino.utils import CudaSyncRecorder, HostSyncRecorder
    model = build(path, size, device, opts)
    one = batch_for(model, size, batch=1, training=False)
    train = batch_for(model, size)
    model.eval()
    with torch.no_grad():
        model.predict(one['inputs'], one['data_samples'])  # warm caches
    row = {}
    for mode in ('predict', 'loss'):
        rec = CudaSyncRecorder() if cuda else HostSyncRecorder()
        if mode == 'predict':
            model.eval()
            with torch.no_grad(), rec:
                model.predict(one['inputs'], one['data_samples'])
        else:
            model.train()
            with rec:
                total_loss(model, train).backward()
        sites = dict(rec.sites.most_common())
        row[mode] = dict(total=sum(sites.values()),
                         crossdino=sum(v for k, v in sites.items()
                                       if k.startswith('crossdino/')),
                         sites=sites)
    return row


def section_syncs(device, size):
    cuda = torch.device(device).type == 'cuda'
    rows = {}
    models = dict(MODELS, **{'ENACT-DETR-R50': ENACT_DETR})
    # ENACT's static-shape mode: no read of the cluster count
    models['ENACT-DETR-R50 max_clusters=1.0'] = (ENACT_DETR, {
        'model.encoder.layer_cfg.self_attn_cfg.max_clusters': 1.0})
    for name, path in models.items():
        path, opts = path if isinstance(path, tuple) else (path, None)
        attempt(rows, name, lambda: _syncs(path, opts, size, device, cuda))
        free(device)
    rows['method'] = ('torch.cuda.set_sync_debug_mode("warn")' if cuda else
                      'ATen ops (HostSyncRecorder); .cpu()/.tolist() unseen')
    return rows


def _dist_train(tmp, root, name, extra=()):
    from tests.conftest import data_root_options, format_cfg_options
    cmd = ['bash', 'tools/dist_train.sh', DDP_CFG, '1', '--work-dir',
           osp.join(tmp, name), *extra, '--cfg-options',
           'train_dataloader.batch_size=1',
           *format_cfg_options(data_root_options(root))]
    env = dict(os.environ, PYTHON=sys.executable, PORT='', NNODES='')
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    log = proc.stdout + proc.stderr
    res = dict(returncode=proc.returncode, wall_s=time.perf_counter() - t0,
               backend_lines=[line.strip()[:160] for line in log.splitlines()
                              if 'gloo' in line or 'nccl' in line.lower()][:3],
               logged_iterations=sum(
                   1 for line in log.splitlines()
                   if 'Epoch(train)' in line and 'loss:' in line),
               checkpoint=osp.isfile(osp.join(tmp, name, 'epoch_1.pth')))
    if proc.returncode != 0:
        res['log_tail'] = log[-3000:]
    return res


def section_ddp(device, size):
    """tools/dist_train.sh, one process, two iterations (batch 1, two
    images); on CUDA also with --amp --amp-dtype bfloat16."""
    from tests.conftest import make_visdrone_coco
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = make_visdrone_coco(osp.join(tmp, 'data'), num_train=2,
                                  num_val=1, objects_per_image=(6, 6))
        res['fp32'] = _dist_train(tmp, root, 'fp32')
        if torch.device(device).type == 'cuda':
            res['amp bf16'] = _dist_train(
                tmp, root, 'bf16', ('--amp', '--amp-dtype', 'bfloat16'))
    return res


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------
def _fmt(v):
    if isinstance(v, float):
        return f'{v:.4g}'
    return str(v)


def markdown(results) -> str:
    lines = ['# GPU suite', '']
    for name, sec in results.items():
        lines += [f'## {name} ({sec.get("wall_s", 0):.0f} s)', '']
        if 'error' in sec:
            lines += ['```', sec['error'], '```', '']
            continue
        data = sec['result']
        rows = {k: v for k, v in data.items() if isinstance(v, dict)}
        flat = {k: v for k, v in data.items() if not isinstance(v, dict)}
        for k, v in flat.items():
            lines.append(f'- {k}: {_fmt(v)}')
        if rows:
            cols = []
            for r in rows.values():
                cols += [c for c in r if c not in cols]
            lines += ['', '| | ' + ' | '.join(cols) + ' |',
                      '|---' * (len(cols) + 1) + '|']
            for k, r in rows.items():
                cells = []
                for c in cols:
                    v = r.get(c, '')
                    if isinstance(v, dict):  # syncs: total / ours / sites
                        v = f'{v.get("total")} ({v.get("crossdino")} in ' \
                            f'crossdino): ' + ', '.join(
                                f'{s} x{n}' for s, n in list(
                                    v.get('sites', {}).items())[:6])
                    cells.append(_fmt(v))
                lines.append(f'| {k} | ' + ' | '.join(cells) + ' |')
        lines.append('')
    return '\n'.join(lines) + '\n'


def main(argv=None):
    args = parse_args(argv)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    size = SIZES['smoke' if args.smoke else 'full']
    os.makedirs(args.out, exist_ok=True)
    from mmdet.utils import register_all_modules

    import crossdino  # noqa: F401
    register_all_modules()
    if torch.device(device).type == 'cuda':
        torch.backends.cudnn.benchmark = True
    results, failed = {}, []
    for name in (s for s in SECTIONS
                 if s in args.sections and s not in args.skip):
        t0 = time.perf_counter()
        print(f'[gpu_suite] {name} ...', flush=True)
        try:
            with torch.enable_grad():  # whatever the caller left set
                entry = dict(result=globals()[f'section_{name}'](device,
                                                                 size))
        except Exception:  # recorded, and the other sections still run
            entry = dict(error=traceback.format_exc()[-4000:])
            failed.append(name)
            print(entry['error'], file=sys.stderr, flush=True)
        entry['wall_s'] = time.perf_counter() - t0
        results[name] = entry
        print(f'[gpu_suite] {name} done in {entry["wall_s"]:.1f} s',
              flush=True)
        with open(osp.join(args.out, 'gpu_suite.json'), 'w') as f:
            json.dump(dict(smoke=args.smoke, device=device,
                           sections=results), f, indent=1)
        with open(osp.join(args.out, 'gpu_suite.md'), 'w') as f:
            f.write(markdown(results))
    print(f'[gpu_suite] wrote {args.out}/gpu_suite.md and gpu_suite.json; '
          f'failed sections: {failed or "none"}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
