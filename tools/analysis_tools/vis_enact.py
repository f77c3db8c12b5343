"""Self-information and cluster maps of an ENACT encoder layer (paper Fig. 3).

    python tools/analysis_tools/vis_enact.py CONFIG IMAGE [--checkpoint CKPT]
        [--layer 0] [--out enact.png] [--device cpu] [--cfg-options k=v ...]

Runs the detector's test pipeline and ``predict`` on IMAGE, captures the
inputs of the chosen ENACT encoder attention with a forward pre-hook, and
recomputes its clustering. The figure shows the image, the self-information
``-p log p`` before smoothing (bright = more information, the paper's
Fig. 3), the smoothed information, and the clusters (random colour per
cluster, padding black) on the (H, W) feature grid; clusters are runs along
the row-major token order, so they appear as horizontal strokes. Without a
checkpoint the p.d.f. layer is untrained (random init).
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
                   help='config of a detector with ENACT attention, e.g. '
                   'configs/enact/detr_r50_visdrone_enact.py')
    p.add_argument('image', type=cli.existing_file('image'),
                   help='image to run through the test pipeline')
    p.add_argument('--checkpoint', type=cli.existing_file('checkpoint'),
                   help='weights to load (default: random initialisation, '
                   'i.e. an untrained p.d.f. layer)')
    p.add_argument('--layer', type=int, default=0,
                   help='index among the ENACT attentions of the model, in '
                   'module order')
    p.add_argument('--out', default='enact.png',
                   help='output figure (PNG/JPG/PDF); default enact.png')
    p.add_argument('--device', default='cpu',
                   help='device to run the model on, e.g. cpu, cuda:0')
    cli.add_cfg_options_arg(p)
    return p.parse_args(argv)


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import numpy as np  # noqa: E402
import torch  # noqa: E402


def capture_enact(model, image, layer=0):
    """Run ``image`` through ``model``; return the chosen ENACT layer's
    clustering dict (as numpy, (H, W) maps) and the feature-map size."""
    from mmdet.apis import inference_detector

    from crossdino.models.layers import ENACTAttention
    attns = [m for m in model.modules() if isinstance(m, ENACTAttention)]
    if not attns:
        raise ValueError('the model has no ENACTAttention')
    attn = attns[layer]
    seen = {}

    def hook(module, args, kwargs):
        seen.update(kwargs)
        if args:
            seen['query'] = args[0]

    feat_hw = {}

    def neck_hook(module, args, out):
        feat_hw['hw'] = out[-1].shape[-2:]

    handles = [attn.register_forward_pre_hook(hook, with_kwargs=True),
               model.neck.register_forward_hook(neck_hook)]
    try:
        inference_detector(model, image)
    finally:
        for h in handles:
            h.remove()
    q = seen['query']
    key = seen.get('key', q)
    value = seen.get('value', key)
    key_pos = seen.get('key_pos', seen.get('query_pos'))
    if key_pos is not None:
        key = key + key_pos
    mask = seen.get('key_padding_mask')
    with torch.no_grad():
        cl = attn.cluster(key, value, mask)
    h, w = feat_hw['hw']
    maps = {k: cl[k][0].reshape(h, w).float().cpu().numpy()
            for k in ('info', 'smoothed', 'cluster_ids')}
    maps['num_clusters'] = int(cl['num_clusters'][0])
    return maps


def draw(image_path, maps, out):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import mmcv
    img = mmcv.imread(image_path, channel_order='rgb')
    ids = maps['cluster_ids'].astype(np.int64)
    rng = np.random.default_rng(0)
    colours = rng.uniform(0.2, 1.0, size=(ids.max() + 2, 3))
    cmap = np.where(ids[..., None] >= 0, colours[ids.clip(min=0)], 0.)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    panels = [(img, 'image'), (maps['info'], 'self-information -p log p'),
              (maps['smoothed'], 'smoothed'),
              (cmap, f'{maps["num_clusters"]} clusters / {ids.size} tokens')]
    for ax, (im, title) in zip(axes, panels):
        ax.imshow(im, cmap='magma' if im.ndim == 2 else None,
                  interpolation='nearest')
        ax.set_title(title)
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    from mmdet.apis import init_detector

    import crossdino  # noqa: F401  (registers modules)
    from crossdino.utils import load_tool_config
    cfg = load_tool_config(args.config, args.cfg_options)
    cfg.model.backbone.init_cfg = None
    model = init_detector(cfg, args.checkpoint, device=args.device)
    if args.checkpoint is None:
        model.init_weights()
    maps = capture_enact(model, args.image, args.layer)
    draw(args.image, maps, args.out)
    print(f'{args.out}: {maps["num_clusters"]} clusters over '
          f'{maps["cluster_ids"].size} tokens')


if __name__ == '__main__':
    main()
