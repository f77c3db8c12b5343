"""Draw what a config's data pipeline feeds the model.

    python tools/analysis_tools/browse_dataset.py CONFIG [--output-dir DIR]
        [--not-show] [--show-interval S] [--max-images N]
        [--phase train|val|test] [--cfg-options k=v ...]

Builds the dataset of ``<phase>_dataloader`` with its pipeline and draws each
pipeline output, i.e. the image after Resize/Flip/... with its boxes in the
same coordinates: ground-truth boxes with their class names, and the ignored
regions (VisDrone categories 0 and 11, ``data_samples.ignored_instances``)
shaded grey with a dashed outline. One image per sample is written to
``--output-dir``; ``--not-show`` (implied without a display) skips the
window.
"""
import argparse
import importlib.util
import os
import os.path as osp
import sys
import warnings

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
        description='Draw pipeline outputs with ground truth and ignored '
        'regions')
    parser.add_argument(
        'config', type=cli.existing_file('config file'),
        help='config file path')
    parser.add_argument(
        '--output-dir', help='folder for the drawn images (created)')
    parser.add_argument(
        '--not-show', action='store_true',
        help='do not open a window (implied when there is no display)')
    parser.add_argument(
        '--show-interval', type=float, default=2,
        help='seconds each image is shown')
    parser.add_argument(
        '--max-images', type=int,
        help='draw at most this many samples (default: all)')
    parser.add_argument(
        '--phase', choices=['train', 'val', 'test'], default='train',
        help='which <phase>_dataloader.dataset to browse')
    cli.add_cfg_options_arg(parser)
    args = parser.parse_args(argv)
    if args.max_images is not None and args.max_images < 1:
        parser.error(f'--max-images must be >= 1, got {args.max_images}')
    return args


if __name__ == '__main__':
    parse_args()  # exits on a bad argument before the imports below

import numpy as np  # noqa: E402

import crossdino  # noqa: E402,F401  (registers modules)
from crossdino.utils import load_tool_config  # noqa: E402

IGNORED_FILL = (128, 128, 128)
IGNORED_ALPHA = 0.5
IGNORED_EDGE = (255, 255, 255)


def box_tensor(instances):
    """(N, 4) xyxy boxes of an InstanceData, or None."""
    if instances is None or 'bboxes' not in instances:
        return None
    bboxes = instances.bboxes
    return getattr(bboxes, 'tensor', bboxes)  # mmdet BaseBoxes -> tensor


def shade_ignored(visualizer, image, ignored):
    """``image`` with the ignored regions filled grey and outlined dashed."""
    visualizer.set_image(image)
    if ignored is not None and len(ignored):
        # Two passes: the fill is translucent, the outline opaque.
        visualizer.draw_bboxes(
            ignored, edge_colors=IGNORED_FILL, face_colors=IGNORED_FILL,
            alpha=IGNORED_ALPHA, line_widths=0)
        visualizer.draw_bboxes(
            ignored, edge_colors=IGNORED_EDGE, face_colors='none',
            alpha=1.0, line_styles='--', line_widths=1)
    return visualizer.get_image()


def check_inside(sample, shape, gt, ignored, tol=1.0):
    """Warn about boxes that a transform moved off the image."""
    h, w = shape
    for what, boxes in (('gt_instances', box_tensor(gt)),
                        ('ignored_instances', ignored)):
        if boxes is None or not len(boxes):
            continue
        outside = ((boxes[:, 0] < -tol) | (boxes[:, 1] < -tol) |
                   (boxes[:, 2] > w + tol) | (boxes[:, 3] > h + tol))
        if outside.any():
            print(f'warning: {sample.metainfo.get("img_path", "?")}: '
                  f'{int(outside.sum())} {what}.bboxes outside the '
                  f'{w}x{h} pipeline output', file=sys.stderr)


def build_dataset_and_visualizer(cfg, phase):
    from mmdet.registry import DATASETS, VISUALIZERS
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    key = f'{phase}_dataloader'
    if key not in cfg or 'dataset' not in cfg[key]:
        raise KeyError(f'{cfg.filename}: no "{key}.dataset" for '
                       f'--phase {phase}')
    dataset = DATASETS.build(cfg[key].dataset)
    vis_cfg = dict(cfg.get('visualizer', dict(type='DetLocalVisualizer')))
    # Files are written here, not through the config's vis backends.
    vis_cfg.pop('vis_backends', None)
    vis_cfg.pop('save_dir', None)
    vis_cfg['name'] = 'browse_dataset'
    visualizer = VISUALIZERS.build(vis_cfg)
    visualizer.dataset_meta = dataset.metainfo
    return dataset, visualizer


def browse(dataset, visualizer, output_dir=None, show=False, wait_time=2.0,
           max_images=None):
    """Draw the first ``max_images`` samples; returns the written files."""
    from mmengine.utils import ProgressBar
    num = len(dataset) if max_images is None else min(max_images, len(dataset))
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
    written = []
    progress = ProgressBar(num)
    for idx in range(num):
        item = dataset[idx]
        if not isinstance(item, dict) or 'inputs' not in item:
            raise TypeError(
                f'sample {idx} is not a packed dict(inputs=..., '
                f'data_samples=...): does the pipeline end in PackDetInputs?')
        sample = item['data_samples']
        # PackDetInputs gives a CHW BGR tensor; the visualizer draws RGB.
        image = item['inputs'].permute(1, 2, 0).numpy()[..., ::-1]
        image = np.ascontiguousarray(image)

        ignored = box_tensor(sample.get('ignored_instances'))
        gt = sample.get('gt_instances')
        if gt is not None and 'bboxes' in gt:
            gt.bboxes = box_tensor(gt)
        check_inside(sample, image.shape[:2], gt, ignored)

        out_file = None
        if output_dir:
            name = osp.basename(sample.metainfo.get('img_path', f'{idx}.png'))
            stem, ext = osp.splitext(name)
            ext = ext.lower() if ext.lower() in ('.jpg', '.jpeg',
                                                 '.png') else '.png'
            out_file = osp.join(output_dir, f'{idx:05d}_{stem}{ext}')
            written.append(out_file)
        with warnings.catch_warnings():
            # Boxes touching the right/bottom border (x2 == width) are valid;
            # check_inside reports real outliers instead.
            warnings.filterwarnings('ignore', message='.*out of bounds')
            image = shade_ignored(visualizer, image, ignored)
            visualizer.add_datasample(
                osp.basename(out_file or str(idx)), image, data_sample=sample,
                draw_gt=True, draw_pred=False, show=show,
                wait_time=wait_time, out_file=out_file)
        progress.update()
    print()
    return written


def main(argv=None):
    args = parse_args(argv)
    show = not args.not_show
    if show and not os.environ.get('DISPLAY') and sys.platform != 'darwin':
        print('no display ($DISPLAY unset): not showing images')
        show = False
    if not show and not args.output_dir:
        raise ValueError('nothing to do: give --output-dir, or run with a '
                         'display and without --not-show')
    cfg = load_tool_config(args.config, args.cfg_options)
    dataset, visualizer = build_dataset_and_visualizer(cfg, args.phase)
    written = browse(dataset, visualizer, args.output_dir, show,
                     args.show_interval, args.max_images)
    if written:
        print(f'wrote {len(written)} images to {args.output_dir}')
    return written


if __name__ == '__main__':
    main()
