"""Draw what ViCrop-Det sees and does on one image.

    python tools/analysis_tools/vis_vicrop.py CONFIG IMAGE [--checkpoint CKPT]
        [--out vicrop.png] [--score-thr 0.3] [--cfg-options k=v ...]
        [--vicrop k=v ...]

Writes one PNG with four panels over the image: the Spatial Attention
Entropy map (SAE / log H; empty for probes without entropy), the probe's
mass map (attention saliency, or residual encoder objectness with
``probe='encoder'``), the chosen crops (numbered in selection order) and the
detections before (first pass, dashed) and after (merged) ViCrop. ``CONFIG`` is a detector config or a
ViCrop config (``configs/vicrop/``); ViCrop settings come from its
``vicrop`` dict / wrapper and ``--vicrop key=value`` overrides. Without
``--checkpoint`` the weights are random (a smoke test of the pipeline).
"""
import argparse
import copy
import importlib.util
import math
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
                   help='detector config, or a ViCrop config '
                   '(configs/vicrop/)')
    p.add_argument('image', type=cli.existing_file('image'),
                   help='image to run through the test pipeline')
    p.add_argument('--checkpoint', type=cli.existing_file('checkpoint'),
                   help='detector weights to load (default: random '
                   'initialisation, a smoke test of the pipeline)')
    p.add_argument('--out', default='vicrop.png',
                   help='output figure (PNG/JPG/PDF); default vicrop.png')
    p.add_argument('--score-thr', type=float, default=0.3,
                   help='detections drawn in the last panel score at least '
                   'this; default 0.3')
    p.add_argument('--device', default='cpu',
                   help='device to run the model on, e.g. cpu, cuda:0')
    cli.add_cfg_options_arg(p)
    p.add_argument('--vicrop', nargs='+', action=cli.LazyDictAction,
                   default={}, metavar='KEY=VALUE',
                   help='ViCropTTAModel overrides, e.g. budget=0.5')
    return p.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import matplotlib  # noqa: E402

matplotlib.use('Agg')
import matplotlib.patches as mpatches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import mmcv  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import crossdino  # noqa: E402,F401  (registers modules)
from crossdino.utils import load_tool_config  # noqa: E402


def build_tta(cfg, checkpoint, overrides, device):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.runner import load_checkpoint

    from crossdino.models.tta import wrap_config_with_vicrop
    from crossdino.utils.build import drop_pretrained, init_weights_quietly
    register_all_modules()
    cfg = wrap_config_with_vicrop(copy.deepcopy(cfg), **overrides)
    cfg.model.keep_debug = True
    drop_pretrained(cfg.model.module)
    tta = MODELS.build(cfg.model)
    if checkpoint is None:
        init_weights_quietly(tta.module)
    else:
        load_checkpoint(tta.module, checkpoint, map_location='cpu', strict=True)
    return tta.to(device).eval()


def load_data(cfg, image):
    from mmcv.transforms import Compose
    from mmengine.dataset import pseudo_collate
    steps = [
        t for t in cfg.test_dataloader.dataset.pipeline
        if t['type'] != 'LoadAnnotations'
    ]
    pipeline = Compose(steps)
    return pseudo_collate([pipeline(dict(img_path=image, img_id=0))])


def grid_to_image(grid, stride, img_shape, ori_shape):
    """(gh, gw) map over the padded input -> (H, W) over the original."""
    h, w = img_shape
    valid = grid[:math.ceil(h / stride), :math.ceil(w / stride)]
    return F.interpolate(valid[None, None].float(),
                         size=tuple(ori_shape),
                         mode='bilinear',
                         align_corners=False)[0, 0]


def draw_boxes(ax, boxes, color, style='-', labels=None):
    for i, b in enumerate(boxes.tolist()):
        ax.add_patch(
            mpatches.Rectangle((b[0], b[1]),
                               b[2] - b[0],
                               b[3] - b[1],
                               fill=False,
                               lw=1.2,
                               ec=color,
                               ls=style))
        if labels is not None:
            ax.text(b[0] + 2,
                    b[1] + 2,
                    labels[i],
                    color=color,
                    fontsize=9,
                    va='top',
                    weight='bold')


def main(argv=None):
    args = parse_args(argv)
    cfg = load_tool_config(args.config, args.cfg_options)
    tta = build_tta(cfg, args.checkpoint, args.vicrop, args.device)
    data = load_data(cfg, args.image)
    out = tta.test_step(data)[0]
    dbg = tta.last_debug
    meta = out.metainfo
    img = mmcv.imread(args.image, channel_order='rgb')
    ori = img.shape[:2]
    sf = torch.tensor(meta['scale_factor']).repeat(2)
    crops = dbg['crops'][0] / sf
    before = dbg['first_pass'][0]
    after = out.pred_instances

    fig, axes = plt.subplots(2, 2, figsize=(12, 12 * ori[0] / ori[1] + 1))
    panels = [('SAE / log H', 'magma'),
              (f'probe mass ({tta.probe})', 'viridis')]
    for ax, (title, cmap), key in zip(axes[0], panels, ('sae', 'saliency')):
        ax.imshow(img)
        if dbg[key] is not None:
            m = grid_to_image(dbg[key][0].cpu(), dbg['grid_stride'],
                              meta['img_shape'], ori)
            if key == 'sae':
                n_heads = tta.module.decoder.layers[0].cross_attn.num_heads
                m = m / math.log(n_heads)
            ax.imshow(m.numpy(), cmap=cmap, alpha=0.6)
        ax.set_title(title)
    axes[1, 0].imshow(img)
    draw_boxes(axes[1, 0],
               crops,
               'cyan',
               labels=[str(i + 1) for i in range(len(crops))])
    axes[1, 0].set_title(f'{len(crops)} crop(s), mode={tta.mode}, '
                         f'budget={tta.budget}')
    axes[1, 1].imshow(img)
    keep_b = before.scores >= args.score_thr
    keep_a = after.scores >= args.score_thr
    draw_boxes(axes[1, 1], before.bboxes[keep_b].cpu(), 'yellow', '--')
    draw_boxes(axes[1, 1], after.bboxes[keep_a].cpu(), 'lime')
    axes[1, 1].set_title(f'detections >= {args.score_thr}: before '
                         f'{int(keep_b.sum())} (yellow, dashed), after '
                         f'{int(keep_a.sum())} (green)')
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f'wrote {args.out}: {len(crops)} crops, {len(before)} -> '
          f'{len(after)} detections')


if __name__ == '__main__':
    main()
