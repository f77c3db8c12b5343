"""Run one of Cross-DINO's ablation families and tabulate it like the paper.

Each family is the set of configs ``configs/cross_dino/ablations/t<N>_*.py``
(rows in file-name order; the first comment line of each config is its row
label). For every config the script trains it with ``tools/train.py``, tests
the last checkpoint with ``tools/test.py``, reads the test metrics mmengine
dumps as JSON, and writes one markdown table in the paper's column order:

* COCO tables (VI, VIII): AP, AP50, AP75, APS, APM, APL
* VisDrone tables (VII, X, XI): AP, AP50, AP75, APvt, APt, APs

Usage::

    python tools/ablate.py --list                    # families and configs
    python tools/ablate.py table10 --dry-run         # print the commands
    python tools/ablate.py table10 [--work-dir work_dirs/ablations]
        [--skip-train]
        [--train-cmd "bash tools/dist_train.sh {cfg} 8 --work-dir {work_dir}"]
        [--cfg-options key=value ...]

Runs that already have test metrics are not repeated (delete their folder to
redo one); a run with a checkpoint but no metrics (a failed test, an
interrupted training) is resumed with ``--resume``, not retrained: a finished
training only reloads its last checkpoint. ``--table-only`` rebuilds the
table from what exists. A relative ``--work-dir`` is taken from the current
directory.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ABLATIONS = osp.join(ROOT, 'configs', 'cross_dino', 'ablations')

COCO_COLUMNS = [('AP', 'bbox_mAP'), ('AP50', 'bbox_mAP_50'),
                ('AP75', 'bbox_mAP_75'), ('APS', 'bbox_mAP_s'),
                ('APM', 'bbox_mAP_m'), ('APL', 'bbox_mAP_l')]
VISDRONE_COLUMNS = [('AP', 'bbox_mAP'), ('AP50', 'bbox_mAP_50'),
                    ('AP75', 'bbox_mAP_75'), ('APvt', 'bbox_AP_vt'),
                    ('APt', 'bbox_AP_t'), ('APs', 'bbox_AP_s_aitod')]
# Keys renamed since earlier runs dumped their metrics: runs are not repeated,
# so their records are read under the old name.
LEGACY_KEYS = {'bbox_AP_s_aitod': 'bbox_AP_s', 'bbox_AP_m_aitod': 'bbox_AP_m'}
FAMILIES = {
    'table6': ('Table VI: CCTM and Boost on three backbones (COCO)',
               COCO_COLUMNS),
    'table7': ('Table VII: Cross-DINO components (VisDrone2019)',
               VISDRONE_COLUMNS),
    'table8': ('Table VIII: CCTM components (COCO, DINO-R50)', COCO_COLUMNS),
    'table10': ('Table X: beta of the Boost loss (VisDrone2019)',
                VISDRONE_COLUMNS),
    'table11': ('Table XI: focal vs Boost loss (VisDrone2019)',
                VISDRONE_COLUMNS),
}


def family_configs(family, paths=None):
    """Configs of a family, in row order, as (label, path) pairs."""
    if paths is None:
        prefix = 't' + family[len('table'):] + '_'
        paths = sorted(glob.glob(osp.join(ABLATIONS, prefix + '*.py')))
    rows = []
    for path in paths:
        with open(path) as f:
            first = f.readline().strip()
        label = first.lstrip('# ').split(':', 1)[-1].strip() or \
            osp.basename(path)
        rows.append((label, path))
    return rows


def read_metrics(test_dir):
    """Test metrics dumped by mmengine's LoggerHook (latest run)."""
    jsons = sorted(glob.glob(osp.join(test_dir, '*', '*.json')))
    for path in reversed(jsons):
        with open(path) as f:
            lines = [json.loads(line) for line in f if line.strip()]
        for record in reversed(lines):
            if any(k.endswith('bbox_mAP') for k in record):
                return record
    return None


def metric(record, key):
    for name in (key, LEGACY_KEYS.get(key)):
        for k, v in record.items():
            if name is not None and (k == name or k.endswith('/' + name)):
                return v
    return None


def format_table(family, results):
    title, columns = FAMILIES[family]
    header = ['Config', 'Row'] + [c for c, _ in columns]
    lines = [f'### {title}', '', '| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    for label, path, record in results:
        cells = [f'`{osp.basename(path)}`', label]
        for _, key in columns:
            v = metric(record, key) if record else None
            cells.append('-' if v is None or v < 0 else f'{100 * v:.1f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def last_checkpoint(work_dir):
    marker = osp.join(work_dir, 'last_checkpoint')
    if osp.exists(marker):
        with open(marker) as f:
            return f.read().strip()
    ckpts = sorted(glob.glob(osp.join(work_dir, '*.pth')), key=osp.getmtime)
    return ckpts[-1] if ckpts else None


def run(cmd, dry_run):
    print('$ ' + ' '.join(cmd), flush=True)
    if not dry_run:
        env = dict(os.environ)
        env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('family', nargs='?', choices=sorted(FAMILIES))
    p.add_argument('--list', action='store_true',
                   help='list the families and their configs')
    p.add_argument('--work-dir', type=osp.abspath,
                   default=osp.join('work_dirs', 'ablations'),
                   help='where runs and the table go (relative to the '
                   'current directory; the tools run from the repository '
                   'root)')
    p.add_argument('--dry-run', action='store_true')
    p.add_argument('--skip-train', action='store_true',
                   help='test existing checkpoints only')
    p.add_argument('--table-only', action='store_true')
    p.add_argument('--train-cmd', default=None,
                   help='training command template with {cfg} and {work_dir}'
                   ' (default: python tools/train.py)')
    p.add_argument('--configs', nargs='+', default=None,
                   help='run these configs as the family\'s rows instead '
                   '(e.g. a smoke test on a tiny config)')
    p.add_argument('--cfg-options', nargs='*', default=[])
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.list or args.family is None:
        for fam, (title, _) in FAMILIES.items():
            print(f'{fam}: {title}')
            for label, path in family_configs(fam):
                print(f'    {osp.relpath(path, ROOT)}  ({label})')
        return None
    results = []
    opts = ['--cfg-options', *args.cfg_options] if args.cfg_options else []
    for label, path in family_configs(args.family, args.configs):
        path = osp.abspath(path)
        name = osp.splitext(osp.basename(path))[0]
        work_dir = osp.join(args.work_dir, args.family, name)
        test_dir = osp.join(work_dir, 'test')
        record = read_metrics(test_dir) if osp.isdir(test_dir) else None
        if record is None and not args.table_only:
            cfg = osp.relpath(path, ROOT)
            if not args.skip_train:
                if args.train_cmd:
                    cmd = args.train_cmd.format(
                        cfg=cfg, work_dir=work_dir).split()
                else:
                    cmd = [sys.executable, 'tools/train.py', cfg,
                           '--work-dir', work_dir]
                if last_checkpoint(work_dir) is not None:
                    cmd.append('--resume')  # finished or interrupted earlier
                run(cmd + opts, args.dry_run)
            ckpt = last_checkpoint(work_dir) or osp.join(work_dir,
                                                         'epoch_12.pth')
            run([sys.executable, 'tools/test.py', cfg, ckpt, '--work-dir',
                 test_dir] + opts, args.dry_run)
            if not args.dry_run:
                record = read_metrics(test_dir)
        results.append((label, path, record))
    table = format_table(args.family, results)
    print(table)
    if not args.dry_run:
        os.makedirs(osp.join(args.work_dir, args.family), exist_ok=True)
        out = osp.join(args.work_dir, args.family, f'{args.family}.md')
        with open(out, 'w') as f:
            f.write(table)
        with open(osp.join(args.work_dir, args.family, 'results.json'),
                  'w') as f:
            json.dump([dict(label=lb, config=osp.relpath(p, ROOT),
                            metrics=r) for lb, p, r in results], f, indent=1)
        print(f'table written to {out}')
    return table


if __name__ == '__main__':
    main()
