"""Find ACS-Free's discriminative heads of a DETR checkpoint.

For every first-pass detection scoring at least ``--score-thr`` on a split
(by default training images, held out from the split you report on), reads
the entropy of the producing query's deformable sampling weights per decoder
layer and head, and the IoU of the detection with its best same-class
ground truth; ranks the heads by the Spearman correlation of the two (most
negative first: focused attention, good box) and writes the best
``--num-heads`` as ``{"heads": [[layer, head], ...]}`` for
``ViCropTTAModel(acs_free=dict(heads=...))``. The score's own correlation
with IoU is printed beside them: a head is only useful where it beats it.

    python tools/analysis_tools/acs_free_heads.py \\
        configs/proxy/dino_r18_proxy.py \\
        work_dirs/proxy/dino/seed0/epoch_2.pth --split train \\
        --num-images 48 --out work_dirs/vicrop/acs_heads.json
"""
import argparse
import importlib.util
import json
import os
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
    p.add_argument('config', type=cli.existing_file('config file'))
    p.add_argument('checkpoint', type=cli.existing_file('checkpoint'))
    p.add_argument('--split', choices=['test', 'train'], default='train')
    p.add_argument('--num-images', type=int, default=None)
    p.add_argument('--num-heads', type=int, default=3)
    p.add_argument('--score-thr', type=float, default=0.05)
    p.add_argument('--out', help='JSON with the chosen heads')
    p.add_argument('--cfg-options', nargs='+', action=cli.LazyDictAction,
                   default={}, metavar='KEY=VALUE')
    return p.parse_args(argv)


def collect(det, loader, score_thr: float):
    """Per-detection head entropies (n, layers*heads), IoU (n,), score (n,)
    and the number of heads per layer."""
    import torch

    from crossdino.models.tta import (DecoderAttentionRecorder, best_gt_iou,
                                      detection_head_entropy)
    ents, ious, scores = [], [], []
    n_heads = None
    for data in loader:
        data = det.data_preprocessor(data, False)
        rec = DecoderAttentionRecorder(det, None)
        with rec, torch.no_grad():
            results = det.predict(data['inputs'], data['data_samples'],
                                  rescale=True)
        n_heads = rec.attn_modules[0].num_heads
        keep = [r.pred_instances.scores >= score_thr for r in results]
        for r, k, ent in zip(results, keep,
                             detection_head_entropy(rec, results, keep)):
            inst = r.pred_instances[k]  # original pixels, as the gt
            ents.append(ent.cpu())
            ious.append(best_gt_iou(inst.bboxes, inst.labels,
                                    r.gt_instances).cpu())
            scores.append(inst.scores.cpu())
    return torch.cat(ents), torch.cat(ious), torch.cat(scores), n_heads


def main(argv=None):
    args = parse_args(argv)
    from crossdino.models.tta import rank_heads, spearman
    from crossdino.utils import load_tool_config
    from crossdino.utils.build import (build_detector_offline,
                                       build_test_split)
    cfg = load_tool_config(args.config, args.cfg_options)
    det = build_detector_offline(cfg, args.checkpoint)
    loader, evaluator_cfg = build_test_split(cfg, args.split,
                                             args.num_images)
    ent, iou, score, n_heads = collect(det, loader, args.score_thr)
    chosen, rho = rank_heads(ent, iou, args.num_heads)
    rho_score = float(spearman(score[:, None], iou)[0])
    n_layers = ent.shape[1] // n_heads
    print(f'{len(iou)} detections (score >= {args.score_thr}) on '
          f'{len(loader.dataset)} {args.split} images')
    print('Spearman(entropy, IoU), rows = decoder layers, cols = heads:')
    for layer in range(n_layers):
        row = rho[layer * n_heads:(layer + 1) * n_heads]
        print(f'  layer {layer}: ' + ' '.join(f'{v:+.3f}' for v in row))
    print(f'Spearman(score, IoU) = {rho_score:+.3f} (for reference)')
    heads = [[i // n_heads, i % n_heads] for i in chosen]
    print(f'chosen heads [layer, head]: {heads}, rho '
          f'{[round(float(rho[i]), 3) for i in chosen]}')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(heads=heads,
                           rho=[round(float(v), 4) for v in rho],
                           rho_score=rho_score,
                           num_detections=len(iou),
                           split=args.split,
                           num_images=len(loader.dataset),
                           checkpoint=args.checkpoint), f, indent=1)


if __name__ == '__main__':
    main()
