"""HMPE heat-bar visualisation (paper Fig. 1 / Fig. 6) of one image.

    python tools/analysis_tools/vis_heatmap.py CONFIG IMAGE [--checkpoint CKPT]
        [--mode learned|gradient] [--level 0] [--tau T] [--topk 10]
        [--out heatmap.png] [--device cpu] [--cfg-options k=v ...]

Writes one PNG with five panels over the (original-size) image:

1. the image;
2. the mixed heatmap H_mixed (Eq. 4) overlaid, with its heat-bar;
3. the heatmap embedding: the norm of the mask-filtered sine positional
   encoding (Eq. 7) per pixel, overlaid, with its heat-bar;
4. hot / cold regions: cold pixels (H_mixed <= tau) darkened, the tau
   contour in cyan;
5. the tau mask (Eq. 6) itself (white = hot, keeps its encoding).

``--mode learned`` (default) reads H_class / H_bbox from the detector's
heatmap head (``HMPEDINO``). ``--mode gradient`` computes the paper's
gradient-weighted heatmaps (Eq. 1-3, ``gradient_weighted_heatmap`` in its
Grad-CAM++ closed form, ``mode='exp'``) on the chosen neck level, for any
DINO-family detector: H_class from S = sum of the top-k decoder class logits
(max over classes, last layer); H_bbox from S = sum of those queries'
predicted box areas. Deviation: the paper's H_bbox uses the gradient of a
Huber regression loss against ground truth, which a single unlabelled image
does not have. Both are min-max normalised before mixing with lambda (the
detector's if it has one, else 0.5). Without ``--checkpoint`` the weights are
random (a smoke test of the pipeline).
"""
import argparse
import importlib.util
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, ROOT)
# Standard library only, loaded by path: through the package it would import
# torch and mmdet (crossdino/__init__) before any argument is checked.
_spec = importlib.util.spec_from_file_location(
    'crossdino_cli', osp.join(ROOT, 'crossdino', 'utils', 'cli.py'))
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', type=cli.existing_file('config file'),
                   help='detector config (HMPEDINO for --mode learned, any '
                   'DINO-family detector for --mode gradient)')
    p.add_argument('image', type=cli.existing_file('image'),
                   help='image to run through the test pipeline')
    p.add_argument('--checkpoint', type=cli.existing_file('checkpoint'),
                   help='weights to load (default: random initialisation, '
                   'a smoke test of the pipeline)')
    p.add_argument('--mode', choices=('learned', 'gradient'),
                   default='learned',
                   help='heatmaps from the heatmap head (learned) or from '
                   'the gradients of Eq. 1-3 (gradient); default learned')
    p.add_argument('--level', type=int, default=0,
                   help='neck level whose grid is drawn (0: the finest)')
    p.add_argument('--tau', type=float, default=None,
                   help='mask threshold (default: the model\'s, else 0.3)')
    p.add_argument('--topk', type=int, default=10,
                   help='queries scored by --mode gradient')
    p.add_argument('--out', default='heatmap.png',
                   help='output figure (PNG/JPG/PDF); default heatmap.png')
    p.add_argument('--device', default='cpu',
                   help='device to run the model on, e.g. cpu, cuda:0')
    cli.add_cfg_options_arg(p)
    return p.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import matplotlib  # noqa: E402

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import mmcv  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import crossdino  # noqa: E402,F401  (registers modules)
from crossdino.models.layers import (  # noqa: E402
    HeatmapPositionalEncoding, gradient_weighted_heatmap)
from crossdino.utils import (build_detector_offline,  # noqa: E402
                             load_tool_config)


def _vicrop_helpers():
    """``load_data`` and ``grid_to_image`` of vis_vicrop.py (same folder)."""
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'vis_vicrop.py')
    spec = importlib.util.spec_from_file_location('_vis_vicrop', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.load_data, mod.grid_to_image


def level_mask(sample, hw, device):
    """(1, h, w) bool padding mask of a level (True = padded)."""
    H, W = sample.metainfo['batch_input_shape']
    ih, iw = sample.metainfo['img_shape'][:2]
    ys = (torch.arange(hw[0], device=device) + 0.5) * H / hw[0]
    xs = (torch.arange(hw[1], device=device) + 0.5) * W / hw[1]
    return ~((ys[:, None] < ih) & (xs[None] < iw))[None]


def learned_heatmaps(model, feats, level):
    if getattr(model, 'heatmap_head', None) is None:
        raise ValueError('--mode learned needs an HMPEDINO with hmpe set; '
                         'use --mode gradient for other detectors')
    h_cls, h_box = model.heatmap_head(feats)
    return h_cls[level], h_box[level]


def gradient_heatmaps(model, feats, samples, level, topk):
    """Eq. 1-3 on ``feats[level]`` for a class score and a box score."""
    def head_out(a):
        mlvl = list(feats)
        mlvl[level] = a[None]
        out = model.forward_transformer(tuple(mlvl), samples)
        cls, box = model.bbox_head(out['hidden_states'], out['references'])
        logit = cls[-1][0].max(-1)[0]  # (nq, )
        idx = logit.detach().topk(min(topk, logit.numel()))[1]
        return logit[idx], box[-1][0, idx]

    # S - S.detach(): same derivatives, exp(S) = 1 (no overflow; the
    # factor exp(2S) would cancel in the min-max normalisation anyway)
    def class_score(a):
        s = head_out(a)[0].sum()
        return s - s.detach()

    def box_score(a):
        box = head_out(a)[1]
        s = (box[:, 2] * box[:, 3]).sum()
        return s - s.detach()

    act = feats[level].detach()
    h_cls = gradient_weighted_heatmap(class_score, act, mode='exp')
    h_box = gradient_weighted_heatmap(box_score, act, mode='exp')
    norm = [(h - h.amin()) / (h.amax() - h.amin()).clamp(min=1e-12)
            for h in (h_cls, h_box)]
    return norm[0][:, None], norm[1][:, None]


def compute_maps(model, data, mode='learned', level=0, tau=None, topk=10):
    """H_mixed, mask and embedding norm of one image, on the level's grid.

    Returns:
        dict: ``heat``, ``gate``, ``pe_norm`` as (h, w) tensors, ``tau``,
        ``stride``, ``sample``.
    """
    data = model.data_preprocessor(data, False)
    inputs, samples = data['inputs'], data['data_samples']
    with torch.no_grad():
        feats = model.extract_feat(inputs)
    hw = feats[level].shape[-2:]
    mask = level_mask(samples[0], hw, inputs.device)
    pe = model.positional_encoding
    if not isinstance(pe, HeatmapPositionalEncoding):
        pe = HeatmapPositionalEncoding(
            pe.num_feats, pe.temperature, pe.normalize, pe.scale, pe.eps,
            pe.offset)
    if tau is not None:
        pe.tau = tau
    if mode == 'learned':
        with torch.no_grad():
            h_cls, h_box = learned_heatmaps(model, feats, level)
    else:
        h_cls, h_box = gradient_heatmaps(model, feats, samples, level, topk)
    with torch.no_grad():
        heat = pe.mix(h_cls, h_box, mask)
        gate = pe.gate(heat, mask)
        pos = pe(mask, heatmap=heat)
    stride = samples[0].metainfo['batch_input_shape'][0] / hw[0]
    return dict(heat=heat[0, 0], gate=gate[0, 0],
                pe_norm=pos[0].norm(dim=0), tau=pe.tau, stride=stride,
                sample=samples[0])


def draw(image_path, maps, out, grid_to_image, title=''):
    img = mmcv.imread(image_path, channel_order='rgb')
    meta = maps['sample'].metainfo
    up = {k: grid_to_image(maps[k].cpu(), maps['stride'], meta['img_shape'],
                           img.shape[:2]).numpy()
          for k in ('heat', 'gate', 'pe_norm')}
    hot = up['gate'] > 0.5
    fig, axes = plt.subplots(1, 5, figsize=(22, 4.4 * img.shape[0] /
                                            img.shape[1] + 0.8))
    axes[0].imshow(img)
    axes[0].set_title(f'image {title}')
    for ax, key, name in ((axes[1], 'heat', 'H_mixed'),
                          (axes[2], 'pe_norm', '|PE| after mask filter')):
        ax.imshow(img)
        im = ax.imshow(up[key], cmap='jet', alpha=0.55)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)  # the heat-bar
        ax.set_title(name)
    dark = (img * np.where(hot[..., None], 1.0, 0.25)).astype(np.uint8)
    axes[3].imshow(dark)
    axes[3].contour(up['heat'], levels=[maps['tau']], colors='cyan',
                    linewidths=1)
    axes[3].set_title(f'hot (> tau={maps["tau"]:.2f}) / cold')
    axes[4].imshow(hot, cmap='gray', vmin=0, vmax=1)
    axes[4].set_title(f'tau mask: {100 * hot.mean():.1f}% hot')
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return float(hot.mean())


def main(argv=None):
    args = parse_args(argv)
    load_data, grid_to_image = _vicrop_helpers()
    cfg = load_tool_config(args.config, args.cfg_options)
    model = build_detector_offline(cfg, args.checkpoint, args.device)
    maps = compute_maps(model, load_data(cfg, args.image), args.mode,
                        args.level, args.tau, args.topk)
    frac = draw(args.image, maps, args.out, grid_to_image,
                f'({args.mode}, level {args.level})')
    print(f'wrote {args.out}: mode {args.mode}, level {args.level}, '
          f'tau {maps["tau"]:.2f}, {100 * frac:.1f}% of the image hot')


if __name__ == '__main__':
    main()
