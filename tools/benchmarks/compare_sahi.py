"""Uniform slicing of ViCropTTAModel against SAHI itself, side by side.

The same checkpoint and test split, the same slices in number and size
(windows of ``--slice-ratio`` of the original's sides, overlapping by at
least ``--overlap``; SAHI places them with its own stride, we spread them
evenly), the full-image pass added, and the same merge (class-wise NMS at
IoU ``--iou``). SAHI runs through its mmdet adapter (``MmdetDetectionModel``,
mmdet's ``DetInferencer``) at its default ``batch_size=1``; ours batches the
slices. Reports AP_vt, AP_t, mAP, AP50 and images per second. SAHI is an
optional, benchmark-only dependency::

    pip install sahi==0.12.6
    python tools/benchmarks/compare_sahi.py configs/proxy/dino_r18_proxy.py \\
        work_dirs/proxy/dino/seed0/epoch_2.pth
"""
import argparse
import copy
import importlib.util
import os.path as osp
import sys
import time

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
    p.add_argument('config', type=cli.existing_file('config file'))
    p.add_argument('checkpoint', type=cli.existing_file('checkpoint'))
    p.add_argument('--slice-ratio', type=float, default=0.5,
                   help='slice side / original side (default 0.5)')
    p.add_argument('--overlap', type=float, default=0.2)
    p.add_argument('--iou', type=float, default=0.5, help='merge NMS IoU')
    p.add_argument('--border-tol', type=float, default=2.0,
                   help='ours: crop boxes within this many pixels of an '
                   'interior crop border are dropped (SAHI keeps them); a '
                   'negative value keeps them too')
    p.add_argument('--num-images', type=int, default=None)
    return p.parse_args(argv)


def evaluate(evaluator_cfg, dataset, samples):
    from tools.benchmarks.compare_vicrop import build_evaluator
    evaluator = build_evaluator(evaluator_cfg, dataset)
    evaluator.process(data_samples=samples, data_batch=None)
    metrics = evaluator.evaluate(len(samples))
    return {k.split('/')[-1]: v for k, v in metrics.items()}


def run_ours(det, loader, args):
    import torch

    from crossdino.models.tta import ViCropTTAModel
    tta = ViCropTTAModel(det, mode='uniform',
                         window_ratios=(args.slice_ratio, ),
                         overlap_ratio=args.overlap,
                         crop_scale=1.0 / args.slice_ratio, budget=None,
                         match_thr=args.iou, border_tol=args.border_tol)
    samples, start = [], time.perf_counter()
    for data in loader:
        with torch.no_grad():
            samples += tta.test_step(data)
    return samples, time.perf_counter() - start


def run_sahi(args, dataset):
    import torch
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    from PIL import Image
    from sahi.models.mmdet import MmdetDetectionModel
    from sahi.predict import get_sliced_prediction
    model = MmdetDetectionModel(model_path=args.checkpoint,
                                config_path=args.config,
                                confidence_threshold=0.0, device='cpu')
    samples, start = [], time.perf_counter()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        h, w = info['height'], info['width']
        res = get_sliced_prediction(
            Image.open(info['img_path']).convert('RGB'), model,
            slice_height=round(h * args.slice_ratio),
            slice_width=round(w * args.slice_ratio),
            overlap_height_ratio=args.overlap,
            overlap_width_ratio=args.overlap,
            perform_standard_pred=True, postprocess_type='NMS',
            postprocess_match_metric='IOU',
            postprocess_match_threshold=args.iou,
            postprocess_class_agnostic=False, verbose=0)
        preds = res.object_prediction_list
        s = DetDataSample(metainfo=dict(img_id=info['img_id'],
                                        ori_shape=(h, w)))
        s.pred_instances = InstanceData(
            bboxes=torch.tensor([p.bbox.to_xyxy() for p in preds],
                                dtype=torch.float32).view(-1, 4),
            scores=torch.tensor([p.score.value for p in preds]),
            labels=torch.tensor([p.category.id for p in preds],
                                dtype=torch.long))
        samples.append(s)
    return samples, time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)
    try:
        import sahi
    except ImportError:
        sys.exit('compare_sahi.py needs SAHI: pip install sahi==0.12.6')
    import crossdino  # noqa: F401  (registers the project's modules)
    from tools.benchmarks.compare_vicrop import METRICS
    from crossdino.utils import load_tool_config
    from crossdino.utils.build import (build_detector_offline,
                                       build_test_split)
    cfg = load_tool_config(args.config)
    loader, evaluator_cfg = build_test_split(cfg, 'test', args.num_images)
    det = build_detector_offline(copy.deepcopy(cfg), args.checkpoint)
    ours, t_ours = run_ours(det, loader, args)
    theirs, t_sahi = run_sahi(args, loader.dataset)
    n = len(loader.dataset)
    print(f'{n} images, slices of {args.slice_ratio} x the side, overlap '
          f'>= {args.overlap}, full image added, class-wise NMS '
          f'{args.iou}; SAHI {sahi.__version__}')
    print('| | ' + ' | '.join(m.replace('bbox_', '') for m in METRICS) +
          ' | images/s |')
    print('|---|' + '---|' * (len(METRICS) + 1))
    for name, samples, secs in (('ViCropTTAModel uniform', ours, t_ours),
                                ('SAHI get_sliced_prediction', theirs,
                                 t_sahi)):
        m = evaluate(evaluator_cfg, loader.dataset,
                     [s.to_dict() for s in samples])
        print(f'| {name} | ' + ' | '.join(f'{m.get(k, -1):.4f}'
                                          for k in METRICS) +
              f' | {n / secs:.2f} |')


if __name__ == '__main__':
    main()
