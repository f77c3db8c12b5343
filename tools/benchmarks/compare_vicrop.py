"""ViCrop against its controls at equal extra pixels, on one checkpoint.

For every row (a set of ``ViCropTTAModel`` settings) and every budget, runs
the test split once and reports, side by side:

- AP_vt, AP_t, mAP, AP50 of the merged predictions (the config's evaluator);
- ``cover``: the share of the objects the first pass missed (no same-class
  detection scoring >= 0.3 at IoU >= 0.5) that lie inside a chosen window,
  the cheap, honest test of a window chooser (random and oracle windows
  are its floor and ceiling);
- ``px``: extra pixels the crop passes actually processed (padding counted)
  per first-pass pixel, and ``x plain``: wall time / the plain run's (same
  process, so load hits every row alike).

At one budget every row crops windows of the same size: half the image side
(the canvas, at ``crop_scale`` 2) when the budget pays for one, a quarter
side below that (``--set window_ratios=...`` overrides). Rows without
crops: ``plain`` (the detector) and ``nms`` (its predictions
through the same class-wise NMS as the merge, to net out what the merge
alone gives). Every other row names its settings, e.g.::

    python tools/benchmarks/compare_vicrop.py \\
        configs/proxy/dino_r18_proxy.py \\
        work_dirs/proxy/dino/seed0/epoch_2.pth \\
        --budgets 0.25 1 2 4 --out work_dirs/vicrop/table.md \\
        --rows uniform random oracle vicrop-sae vicrop-encoder

``--split train --num-images 48`` measures on training images instead
(held out from the test split: choose settings there, report on test).

Rows with ACS-Free also report, over every merge cluster of two or more
candidates, the mean IoU with the ground truth of the box ACS-Free picks
(lowest attention entropy) against the box the score picks.
"""
import argparse
import copy
import importlib.util
import json
import os
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

#: the named rows: ViCropTTAModel settings on top of the budget; the rows
#: vicrop-<variant> use the probe of --probe (vicrop-all: every window
#: qualifies, so the whole budget is spent)
ROWS = {
    'uniform': dict(mode='uniform'),
    'uniform-acs': dict(mode='uniform', acs_free=dict(heads=None)),
    'random': dict(mode='random'),
    'oracle': dict(mode='oracle'),
    'vicrop-sae': dict(mode='vicrop', probe='sae'),
    'vicrop-sae-uniform-q': dict(mode='vicrop', probe='sae',
                                 query_weighting='uniform'),
    'vicrop-sae-unconfident': dict(mode='vicrop', probe='sae',
                                   query_weighting='unconfident'),
    'vicrop-encoder': dict(mode='vicrop', probe='encoder'),
    'vicrop-all': dict(mode='vicrop', min_mass_ratio=0.0),
    'vicrop-cross': dict(mode='vicrop', merge_method='cross'),
    'vicrop-nmm-ios': dict(mode='vicrop', merge_method='nmm',
                           match_metric='ios'),
    'vicrop-rescore': dict(mode='vicrop', crop_rescore=dict(first_weight=0.7)),
    'vicrop-acs': dict(mode='vicrop', acs_free=dict(heads=None)),
}
METRICS = ('bbox_AP_vt', 'bbox_AP_t', 'bbox_mAP', 'bbox_mAP_50')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', type=cli.existing_file('config file'))
    p.add_argument('checkpoint', type=cli.existing_file('checkpoint'),
                   nargs='+', help='one or more checkpoints (e.g. seeds): '
                   'means, spreads and intervals paired by checkpoint')
    p.add_argument('--rows', nargs='+', default=['uniform', 'random',
                                                 'oracle', 'vicrop-sae'],
                   help=f'rows among {sorted(ROWS)}')
    p.add_argument('--budgets', type=float, nargs='+', default=[1.0])
    p.add_argument('--probe', choices=['sae', 'encoder'], default='sae',
                   help='probe of the vicrop-* rows that do not name one')
    p.add_argument('--set', nargs='+', action=cli.LazyDictAction,
                   default={}, metavar='KEY=VALUE',
                   help='ViCropTTAModel settings for every row')
    p.add_argument('--acs-heads', type=cli.existing_file('heads JSON'),
                   help='acs_free_heads.py output: the heads of *-acs rows')
    p.add_argument('--split', choices=['test', 'train'], default='test')
    p.add_argument('--num-images', type=int, default=None)
    p.add_argument('--out', help='markdown table (and .json beside it)')
    p.add_argument('--cfg-options', nargs='+', action=cli.LazyDictAction,
                   default={}, metavar='KEY=VALUE')
    args = p.parse_args(argv)
    unknown = [r for r in args.rows if r not in ROWS]
    if unknown:
        p.error(f'unknown rows {unknown}; choose from {sorted(ROWS)}')
    return args


def build_evaluator(evaluator_cfg, dataset):
    """An mmengine Evaluator of the config's metric for ``dataset``."""
    from mmengine.evaluator import Evaluator
    evaluator = Evaluator(copy.deepcopy(evaluator_cfg))
    evaluator.dataset_meta = dataset.metainfo
    return evaluator


def run_row(model, loader, evaluator, coverage: bool):
    """One pass over the split; returns metrics, seconds, coverage, px."""
    import torch
    from crossdino.models.tta import missed_ground_truth, window_coverage
    missed = covered = 0
    extra_px = first_px = 0.0
    picks = []
    start = time.perf_counter()
    for data in loader:
        with torch.no_grad():
            outputs = model.test_step(data)
        evaluator.process(outputs, data)
        for s in data['data_samples']:
            h, w = s.metainfo['img_shape']
            first_px += h * w
        dbg = getattr(model, 'last_debug', None)
        if dbg is None:
            continue
        extra_px += float(sum(c.sum() for c in dbg['crop_cost']))
        if dbg.get('parts') and 'entropy' in dbg['parts'][0][0]:
            for s, parts in zip(data['data_samples'], dbg['parts']):
                picks.append(cluster_picks([p.cpu() for p in parts], s,
                                           model.match_thr,
                                           model.match_metric))
        if not coverage:
            continue
        for s, first, crops in zip(data['data_samples'], dbg['first_pass'],
                                   dbg['crops']):
            miss = missed_ground_truth(s, first)  # input pixels, as crops
            missed += len(miss)
            covered += int(window_coverage(miss, crops).sum())
    seconds = time.perf_counter() - start
    metrics = evaluator.evaluate(len(loader.dataset))
    acs = None
    if picks:
        p = torch.cat(picks)  # (clusters, 2): IoU of score pick, ACS pick
        acs = dict(clusters=len(p), iou_score=float(p[:, 0].mean()),
                   iou_acs=float(p[:, 1].mean()),
                   acc50_score=float((p[:, 0] >= 0.5).float().mean()),
                   acc50_acs=float((p[:, 1] >= 0.5).float().mean()))
    return dict(metrics={k.split('/')[-1]: v for k, v in metrics.items()},
                acs=acs,
                seconds=seconds,
                coverage=covered / missed if missed else None,
                missed=missed,
                px=extra_px / first_px if first_px else 0.0)


def cluster_picks(parts, sample, match_thr: float, match_metric: str):
    """(clusters, 2) IoU with the best same-class ground truth of the box
    the score picks and of the box ACS-Free picks, over the merge clusters
    of two or more candidates of one image."""
    import torch

    from crossdino.models.tta import best_gt_iou, greedy_clusters
    boxes = torch.cat([p.bboxes for p in parts])
    scores = torch.cat([p.scores for p in parts])
    labels = torch.cat([p.labels for p in parts])
    ent = torch.cat([p.entropy for p in parts])
    if len(boxes) == 0 or len(sample.gt_instances) == 0:
        return torch.zeros(0, 2)
    iou = best_gt_iou(boxes, labels, sample.gt_instances)  # original pixels
    leader = greedy_clusters(boxes, scores, labels, match_thr, match_metric)
    size = torch.bincount(leader, minlength=len(boxes))
    out = []
    for c in (size >= 2).nonzero().flatten().tolist():
        members = (leader == c).nonzero().flatten()
        out.append([iou[c], iou[members[ent[members].argmin()]]])
    return torch.tensor(out).view(-1, 2)


class _NMSOnly:
    """The detector's predictions through the merge's NMS, no crops."""

    def __init__(self, det, **merge_kw):
        self.det, self.kw = det, merge_kw

    def test_step(self, data):
        from crossdino.models.tta import merge_detections
        out = self.det.test_step(data)
        for s in out:
            s.pred_instances = merge_detections([s.pred_instances],
                                                **self.kw)
        return out


def build_rows(det, args, heads):
    """(name, budget, model) of every row on one detector."""
    from crossdino.models.tta import ViCropTTAModel
    max_per_img = det.test_cfg.get('max_per_img')
    rows = [('plain', None, det),
            ('nms', None, _NMSOnly(det, max_per_img=max_per_img))]
    for name in args.rows:
        for budget in args.budgets:
            # every row at a budget crops windows of one size: the canvas
            # (half-side at scale 2) when the budget pays for one, else a
            # quarter-side window (a quarter of the canvas)
            settings = dict(dict(probe=args.probe), **ROWS[name],
                            budget=budget,
                            window_ratios=(0.5, ) if budget >= 1 else
                            (0.25, ))
            settings.update(args.set)
            if 'acs_free' in settings and heads is not None:
                settings['acs_free'] = dict(heads=heads)
            rows.append((name, budget,
                         ViCropTTAModel(det, keep_debug=True, **settings)))
    return rows


def _key(r):
    return r['row'], r['budget']


def summary_table(results, n_ckpt):
    """Markdown: per row, mean (and std over checkpoints) of each column."""
    from tools.benchmarks.compare import mean_std
    groups = {}
    for r in results:
        groups.setdefault(_key(r), []).append(r)
    cols = ['px', 'coverage', 'ratio'] + list(METRICS)
    lines = [
        '| row | budget | extra px | missed covered | x plain | AP_vt | AP_t '
        '| mAP | AP50 |', '|---|---|---|---|---|---|---|---|---|'
    ]
    for (row, budget), rs in groups.items():
        cells = []
        for c in cols:
            vals = [r[c] if c in r else r['metrics'].get(c, -1) for r in rs]
            if any(v is None for v in vals) or (c == 'coverage'
                                                and budget is None):
                cells.append('-')
                continue
            mean, std = mean_std(vals)
            digits = 2 if c in ('px', 'ratio') else (3 if c == 'coverage'
                                                     else 4)
            cells.append(f'{mean:.{digits}f}' + (
                f' ± {std:.{digits}f}' if n_ckpt > 1 and c not in (
                    'px', 'ratio') else ''))
        lines.append(f"| {row} | {budget if budget is not None else '-'} | "
                     + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def paired_table(results, bases=('nms', 'uniform', 'random')):
    """Markdown: each vicrop row minus each base row at the same budget (a
    row without crops, e.g. ``nms``, at any budget: the gain net of the
    merge's NMS), paired by checkpoint, mean and 95 % t interval."""
    from tools.benchmarks.compare import paired_interval
    by = {}
    for r in results:
        by.setdefault(_key(r), {})[r['ckpt']] = r
    lines = ['| row | budget | vs | AP_vt diff [95 % CI] | mAP diff '
             '[95 % CI] | missed covered diff |', '|---|---|---|---|---|---|']
    for (row, budget), rs in by.items():
        if not row.startswith('vicrop'):
            continue
        for base in bases:
            other = by.get((base, budget)) or by.get((base, None))
            if other is None:
                continue
            cells = []
            for metric in ('bbox_AP_vt', 'bbox_mAP', 'coverage'):
                if metric == 'coverage' and base == 'nms':
                    cells.append('-')
                    continue

                def get(group, m=metric):
                    return {k: (v[m] if m == 'coverage' else
                                v['metrics'][m]) for k, v in group.items()}

                d = paired_interval(get(other), get(rs))
                cells.append(f"{d['diff']:+.4f}" + (
                    '' if d['n'] < 2 else
                    f" [{d['low']:+.4f}, {d['high']:+.4f}]"))
            lines.append(f'| {row} | {budget} | {base} | ' + ' | '.join(cells)
                         + ' |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    import torch
    with torch.no_grad():  # a context: main also runs inside tests
        compare(args)


def compare(args):
    """Run every row on every checkpoint; print and write the tables."""
    from crossdino.utils import load_tool_config
    from crossdino.utils.build import (build_detector_offline,
                                       build_test_split)
    cfg = load_tool_config(args.config, args.cfg_options)
    loader, evaluator_cfg = build_test_split(cfg, args.split,
                                             args.num_images)
    heads = None
    if args.acs_heads:
        with open(args.acs_heads) as f:
            heads = json.load(f)['heads']
    results = []
    for ckpt in args.checkpoint:
        det = build_detector_offline(copy.deepcopy(cfg), ckpt)
        plain_s = None
        for name, budget, model in build_rows(det, args, heads):
            res = run_row(model, loader,
                          build_evaluator(evaluator_cfg, loader.dataset),
                          coverage=True)
            plain_s = plain_s or res['seconds']
            res.update(row=name, budget=budget, ckpt=ckpt,
                       ratio=res['seconds'] / plain_s)
            results.append(res)
            m = res['metrics']
            cover = '-' if res['coverage'] is None or budget is None else \
                f"{res['coverage']:.3f}"
            if res['acs']:
                a = res['acs']
                print(f"  ACS-Free over {a['clusters']} clusters: mean IoU "
                      f"{a['iou_score']:.4f} (score pick) vs "
                      f"{a['iou_acs']:.4f} (ACS pick); IoU>=0.5 "
                      f"{a['acc50_score']:.3f} vs {a['acc50_acs']:.3f}")
            print(f"{name:24s} budget "
                  f"{budget if budget is not None else '-':>5} px "
                  f"{res['px']:.2f} cover {cover:>5} " +
                  ' '.join(f'{k.replace("bbox_", "")} {m.get(k, -1):.4f}'
                           for k in METRICS) +
                  f" x plain {res['ratio']:.2f}", flush=True)
    n = len(args.checkpoint)
    head = (f'`{args.config}`, {n} checkpoint(s) '
            f'({", ".join(f"`{c}`" for c in args.checkpoint)}), split '
            f'{args.split} ({len(loader.dataset)} images); '
            + ('mean ± std over checkpoints' if n > 1 else ''))
    table = head + '\n\n' + summary_table(results, n)
    if any(r['row'].startswith('vicrop') for r in results):
        table += '\n\nPaired by checkpoint:\n\n' + paired_table(results)
    acs = [r for r in results if r['acs']]
    if acs:
        table += ('\n\nACS-Free box choice over merge clusters of >= 2 '
                  'candidates (mean IoU with the ground truth, score pick '
                  '-> ACS pick):\n\n' + '\n'.join(
                      f"- {r['row']} budget {r['budget']} `{r['ckpt']}`: "
                      f"{r['acs']['clusters']} clusters, IoU "
                      f"{r['acs']['iou_score']:.4f} -> "
                      f"{r['acs']['iou_acs']:.4f}, IoU >= 0.5 "
                      f"{r['acs']['acc50_score']:.3f} -> "
                      f"{r['acs']['acc50_acs']:.3f}" for r in acs))
    print(table)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(table + '\n')
        with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
