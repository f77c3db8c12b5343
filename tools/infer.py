"""Run a trained detector on your own images: a file, a folder or a glob.

    python tools/infer.py CONFIG CHECKPOINT INPUT [INPUT ...]
        [--out-dir work_dirs/infer] [--batch-size 4] [--device cuda:0]
        [--score-thr 0.3] [--no-draw] [--vicrop] [--cfg-options k=v ...]

Writes ``OUT_DIR/predictions.json``, a COCO dataset of the predictions
(``images``, ``categories``, ``annotations`` with ``bbox`` [x, y, w, h] in
original-image pixels and ``score``; ``pycocotools.coco.COCO`` loads it)
and, unless ``--no-draw``, ``OUT_DIR/vis/<image name>`` with the boxes
scoring at least ``--score-thr`` drawn. Images of any size work (the
config's test pipeline resizes them); ``--batch-size`` images run in one
forward pass; an unreadable image stops the run naming the file. The
checkpoint must match the config's model exactly. ``--vicrop`` (implied
by a config with a ``vicrop`` dict or by ``--cfg-options vicrop.KEY=VALUE``)
adds ViCrop-Det, or uniform slicing with ``vicrop.mode=uniform``, with crops
cut from the original image (``crossdino.models.tta.ViCropTTAModel``). Python
API: :mod:`crossdino.apis`.
"""
import argparse
import importlib.util
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
# Standard library only, loaded by path: through the package it would import
# torch and mmdet (crossdino/__init__) before any argument is checked.
_spec = importlib.util.spec_from_file_location(
    'crossdino_cli', osp.join(ROOT, 'crossdino', 'utils', 'cli.py'))
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', type=cli.existing_file('config file'))
    p.add_argument('checkpoint', type=cli.existing_file('checkpoint'))
    p.add_argument('inputs', nargs='+',
                   help='image files, folders or glob patterns')
    p.add_argument('--out-dir', default='work_dirs/infer',
                   help='where predictions.json and vis/ go')
    p.add_argument('--batch-size', type=int, default=1)
    p.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    p.add_argument('--score-thr', type=float, default=0.3,
                   help='boxes drawn from this score on (the JSON keeps '
                   'every prediction)')
    p.add_argument('--no-draw', action='store_true',
                   help='write predictions.json only')
    p.add_argument('--vicrop', action='store_true',
                   help='ViCrop-Det test-time cropping with the config\'s '
                   '`vicrop` settings (uniform slicing: --cfg-options '
                   'vicrop.mode=uniform)')
    cli.add_cfg_options_arg(p)
    return p.parse_args(argv)


def dataset_classes(model, cfg):
    """Class names: the checkpoint's (``model.dataset_meta``, set by
    ``build_detector_offline``), else the test dataset's ``metainfo`` /
    class ``METAINFO``."""
    from mmdet.registry import DATASETS
    classes = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    if classes:
        return list(classes)
    dataset = cfg.test_dataloader.dataset
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes:
        return list(classes)
    return list(DATASETS.get(dataset.type).METAINFO['classes'])


def main(argv=None):
    args = parse_args(argv)
    import json
    import os

    import mmcv
    from mmdet.registry import VISUALIZERS
    from mmdet.utils import register_all_modules
    from mmengine.utils import ProgressBar

    import crossdino  # noqa: F401
    from crossdino.apis import list_images, predict_images, to_coco_json
    from crossdino.utils import build_detector_offline
    from crossdino.utils.config import load_tool_config
    register_all_modules()
    paths = list_images(args.inputs)
    cfg = load_tool_config(args.config, args.cfg_options)
    model = build_detector_offline(cfg, args.checkpoint, args.device)
    classes = dataset_classes(model, cfg)
    model.dataset_meta = dict(classes=classes)
    if args.vicrop or cfg.get('vicrop') is not None:
        from crossdino.models.tta import ViCropTTAModel
        model = ViCropTTAModel(model, **(cfg.get('vicrop') or {}))
        model.dataset_meta = model.module.dataset_meta
    model.cfg = cfg
    visualizer = None
    if not args.no_draw:
        os.makedirs(osp.join(args.out_dir, 'vis'), exist_ok=True)
        visualizer = VISUALIZERS.build(dict(cfg.visualizer,
                                            name='crossdino_infer'))
        visualizer.dataset_meta = model.dataset_meta
    results = []
    bar = ProgressBar(len(paths), file=sys.stderr)
    for r in predict_images(model, paths, args.batch_size):
        results.append(r)
        if visualizer is not None:
            visualizer.add_datasample(
                osp.basename(r.path), mmcv.imread(r.path, channel_order='rgb'),
                r.sample, draw_gt=False, pred_score_thr=args.score_thr,
                out_file=osp.join(args.out_dir, 'vis', osp.basename(r.path)))
        bar.update()
    os.makedirs(args.out_dir, exist_ok=True)
    out = osp.join(args.out_dir, 'predictions.json')
    with open(out, 'w') as f:
        json.dump(to_coco_json(results, classes), f)
    print(f'\n{len(results)} images, predictions in {out}', file=sys.stderr)


if __name__ == '__main__':
    main()
