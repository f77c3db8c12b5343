"""Analyse the scalar logs that mmengine writes during training and testing.

    python tools/analysis_tools/analyze_logs.py plot_curve LOG [LOG ...]
        [--keys KEY ...] [--legend NAME ...] [--title T] [--out FILE.png]
    python tools/analysis_tools/analyze_logs.py cal_train_time LOG [LOG ...]
        [--include-outliers]
    python tools/analysis_tools/analyze_logs.py summary WORK_DIR
        [--keys bbox_mAP bbox_mAP_50 ...]

LOG is a ``scalars.json`` or a work dir (its newest training run is used).

Layout written by mmengine (LoggerHook + LocalVisBackend), per run::

    WORK_DIR/<timestamp>/vis_data/scalars.json   one JSON dict per line
    WORK_DIR/<timestamp>/<timestamp>.json        tools/test.py: one JSON dict

Training lines hold ``epoch``, ``iter`` (global, 1-based), ``lr``, ``time``,
``data_time`` and the losses, with ``step`` = ``iter``. Validation lines hold
the metrics (``bbox_mAP`` or ``<prefix>/bbox_mAP``) with ``step`` = epoch;
0 is the validation that ``ValBeforeTrainHook`` runs before training.
"""
import argparse
import glob
import json
import math
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional

SCALARS_FILE = 'scalars.json'
# plot_curve's panels without --keys: the training loss by iteration and the
# validation mAP by epoch. A demo that validates twice gives a 2-point mAP
# line; the loss curve is what shows the training progress.
DEFAULT_PLOT_KEYS = ('loss', 'bbox_mAP')


# --------------------------------------------------------------------------
# reading the logs
# --------------------------------------------------------------------------
def read_scalars(path: str) -> List[dict]:
    """Records of a ``scalars.json`` (JSON lines), in file order."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'log file "{path}" does not exist')
    records = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f'{path}:{lineno}: not a JSON line ({e})')
            if not isinstance(rec, dict):
                raise ValueError(f'{path}:{lineno}: expected a JSON object, '
                                 f'got {type(rec).__name__}')
            records.append(rec)
    return records


def is_train_record(rec: dict) -> bool:
    # Only training lines carry the global iteration (validation and test
    # lines are keyed by epoch / hold metrics only).
    return 'iter' in rec


def split_records(records: List[dict]):
    train = [r for r in records if is_train_record(r)]
    val = [r for r in records if not is_train_record(r)]
    return train, val


def find_key(rec: dict, key: str) -> Optional[str]:
    """The record's name for ``key``: itself or ``<metric prefix>/key``."""
    if key in rec:
        return key
    for k in rec:
        if k.endswith('/' + key):
            return k
    return None


class Run(NamedTuple):
    name: str  # the timestamp folder
    scalars: Optional[str]  # vis_data/scalars.json
    test_json: Optional[str]  # <timestamp>.json written after a test


def find_runs(work_dir: str) -> List[Run]:
    """Timestamped runs below ``work_dir``, oldest first."""
    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'work dir "{work_dir}" does not exist')
    runs = []
    for run_dir in sorted(glob.glob(osp.join(work_dir, '*', ''))):
        run_dir = run_dir.rstrip('/\\')
        name = osp.basename(run_dir)
        scalars = osp.join(run_dir, 'vis_data', SCALARS_FILE)
        test_json = osp.join(run_dir, f'{name}.json')
        scalars = scalars if osp.isfile(scalars) else None
        test_json = test_json if osp.isfile(test_json) else None
        if scalars or test_json:
            runs.append(Run(name, scalars, test_json))
    # mmengine timestamps (%Y%m%d_%H%M%S) sort chronologically by name.
    return runs


def resolve_log(path: str) -> str:
    """A ``scalars.json`` for ``path``: itself, or a work dir's newest run
    that logged training."""
    if osp.isfile(path):
        return path
    if not osp.isdir(path):
        raise FileNotFoundError(f'"{path}" is neither a log file nor a dir')
    direct = osp.join(path, 'vis_data', SCALARS_FILE)
    if osp.isfile(direct):
        return direct
    candidates = [r.scalars for r in find_runs(path) if r.scalars]
    for scalars in reversed(candidates):
        if any(is_train_record(r) for r in read_scalars(scalars)):
            return scalars
    if candidates:
        return candidates[-1]
    raise FileNotFoundError(
        f'no */vis_data/{SCALARS_FILE} below "{path}" (is it a work dir?)')


def _run_label(path: str) -> str:
    # .../<timestamp>/vis_data/scalars.json -> <timestamp>
    parts = osp.normpath(path).split(osp.sep)
    if len(parts) >= 3 and parts[-2] == 'vis_data':
        return parts[-3]
    return osp.splitext(osp.basename(path))[0]


# --------------------------------------------------------------------------
# plot_curve
# --------------------------------------------------------------------------
def key_series(records: List[dict], key: str):
    """(x, y, x label) of ``key``: loss-like keys by iteration, metrics by
    epoch (the ``step`` of a validation line is its epoch)."""
    train, val = split_records(records)
    for recs, xlabel in ((train, 'iter'), (val, 'epoch')):
        xs, ys = [], []
        for rec in recs:
            name = find_key(rec, key)
            if name is not None and isinstance(rec[name], (int, float)):
                xs.append(rec['step'])
                ys.append(rec[name])
        if xs:
            return xs, ys, xlabel
    return None


def plot_curve(args) -> str:
    import matplotlib
    matplotlib.use('Agg')  # headless: files only, never a window
    import matplotlib.pyplot as plt

    logs = [resolve_log(p) for p in args.json_logs]
    records = {log: read_scalars(log) for log in logs}
    keys = args.keys
    if keys is None:
        # Default panels that no log has (e.g. training without validation)
        # are left out rather than failing the plot.
        keys = [key for key in DEFAULT_PLOT_KEYS
                if any(key_series(records[log], key) for log in logs)]
        for key in DEFAULT_PLOT_KEYS:
            if key not in keys:
                print(f'no "{key}" in the logs: its panel is left out',
                      file=sys.stderr)
        if not keys:
            raise KeyError(f'the logs hold none of the default keys '
                           f'{", ".join(DEFAULT_PLOT_KEYS)}; choose --keys')
    num_curves = len(logs) * len(keys)
    legend = args.legend
    if legend is None:
        legend = [f'{_run_label(log)}_{key}' if len(logs) > 1 else key
                  for log in logs for key in keys]
    elif len(legend) != num_curves:
        raise ValueError(f'--legend needs {num_curves} names (logs x keys), '
                         f'got {len(legend)}')

    fig, axes = plt.subplots(
        len(keys), 1, figsize=(8, 3.2 * len(keys)), squeeze=False)
    plotted = 0
    for k, key in enumerate(keys):
        ax = axes[k][0]
        for j, log in enumerate(logs):
            series = key_series(records[log], key)
            if series is None and args.keys is None:
                continue  # a default panel some of the logs lack
            if series is None:
                available = sorted({
                    name for rec in records[log] for name in rec
                    if name not in ('step', 'iter', 'epoch')})
                raise KeyError(f'{log} has no "{key}"; available: '
                               f'{", ".join(available)}')
            xs, ys, xlabel = series
            marker = 'o' if xlabel == 'epoch' else None
            ax.plot(xs, ys, marker=marker, linewidth=1,
                    label=legend[j * len(keys) + k])
            plotted += 1
            ax.set_xlabel(xlabel)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    out = args.out
    dirname = osp.dirname(osp.abspath(out))
    if not osp.isdir(dirname):
        raise FileNotFoundError(f'output folder "{dirname}" does not exist')
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f'saved {plotted} curve(s) of {", ".join(keys)} to {out}')
    return out


# --------------------------------------------------------------------------
# cal_train_time
# --------------------------------------------------------------------------
def cal_train_time(args) -> Dict[str, dict]:
    results = OrderedDict()
    for path in args.json_logs:
        log = resolve_log(path)
        train, _ = split_records(read_scalars(log))
        per_epoch = OrderedDict()
        for rec in train:
            if 'time' in rec:
                epoch = rec.get('epoch', 0)
                per_epoch.setdefault(epoch, []).append(rec['time'])
        if not per_epoch:
            raise ValueError(f'{log} holds no training "time" (was '
                             'IterTimerHook active?)')
        if not args.include_outliers:
            # The first logged window of an epoch includes the dataloader's
            # start-up; drop it unless it is all there is.
            per_epoch = OrderedDict(
                (e, t[1:] if len(t) > 1 else t) for e, t in per_epoch.items())
        means = {e: sum(t) / len(t) for e, t in per_epoch.items()}
        slowest = max(means, key=means.get)
        fastest = min(means, key=means.get)
        avg = sum(means.values()) / len(means)
        std = math.sqrt(sum((m - avg)**2 for m in means.values()) / len(means))
        print(f'{"-" * 5}Analyze train time of {log}{"-" * 5}')
        print(f'slowest epoch {slowest}, average time is '
              f'{means[slowest]:.4f} s/iter')
        print(f'fastest epoch {fastest}, average time is '
              f'{means[fastest]:.4f} s/iter')
        print(f'time std over epochs is {std:.4f}')
        print(f'average iter time: {avg:.4f} s/iter')
        results[log] = dict(per_epoch=means, slowest=slowest, fastest=fastest,
                            std=std, average=avg)
    return results


# --------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------
def _fmt(value) -> str:
    return '-' if value is None else f'{value:.3f}'


def summary(args) -> Dict[str, dict]:
    """Per key: the first validation of the training run (the model before
    training when ValBeforeTrainHook ran) and the last value, taken from the
    newest test run if there is one, else from the last validation."""
    runs = find_runs(args.work_dir)
    if not runs:
        raise FileNotFoundError(
            f'no */vis_data/{SCALARS_FILE} or */<timestamp>.json below '
            f'"{args.work_dir}"')
    val_records, test_metrics = {}, {}
    for run in runs:
        if run.scalars:
            val_records[run.name] = split_records(read_scalars(run.scalars))[1]
        if run.test_json:
            with open(run.test_json) as f:
                try:
                    metrics = json.load(f)
                except json.JSONDecodeError as e:
                    raise ValueError(f'{run.test_json}: not JSON ({e})')
            if not isinstance(metrics, dict):
                raise ValueError(f'{run.test_json}: expected a JSON object')
            test_metrics[run.name] = metrics

    results = OrderedDict()
    for key in args.keys:
        start = end = None
        # Oldest first: a resumed training continues in a newer folder.
        for run in runs:
            for rec in val_records.get(run.name, ()):
                name = find_key(rec, key)
                if name is not None:
                    start = dict(value=rec[name], epoch=rec.get('step'),
                                 source=run.scalars)
                    break
            if start:
                break
        # Newest first: a test run's metrics, or a training run's last
        # validation, whichever was written last.
        for run in reversed(runs):
            name = find_key(test_metrics.get(run.name, {}), key)
            if name is not None:
                end = dict(value=test_metrics[run.name][name], epoch=None,
                           source=run.test_json)
                break
            for rec in reversed(val_records.get(run.name, ())):
                name = find_key(rec, key)
                if name is not None:
                    end = dict(value=rec[name], epoch=rec.get('step'),
                               source=run.scalars)
                    break
            if end:
                break
        results[key] = dict(start=start, end=end)

    width = max(len(k) for k in args.keys)
    print(f'Summary of {args.work_dir}')
    for key, res in results.items():
        start, end = res['start'], res['end']
        print(f'{key:<{width}}  start {_fmt(start and start["value"]):>5}  '
              f'end {_fmt(end and end["value"]):>5}')
    # Say where the numbers come from, since a work dir holds several runs.
    first = next((r['start'] for r in results.values() if r['start']), None)
    last = next((r['end'] for r in results.values() if r['end']), None)
    if first:
        print(f'start: validation at epoch {first["epoch"]} in '
              f'{first["source"]}')
    if last:
        kind = ('test' if last['epoch'] is None else
                f'validation at epoch {last["epoch"]}')
        print(f'end:   {kind} in {last["source"]}')
    missing = [k for k, r in results.items()
               if not r['start'] and not r['end']]
    if missing:
        print(f'not found in any log: {", ".join(missing)}', file=sys.stderr)
    return results


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Analyse mmengine logs')
    sub = parser.add_subparsers(dest='task', required=True)

    p = sub.add_parser('plot_curve', help='plot losses (by iteration) and '
                       'metrics (by epoch) to an image')
    p.add_argument('json_logs', nargs='+',
                   help='scalars.json files or work dirs')
    p.add_argument('--keys', nargs='+',
                   help='keys to plot, one panel each, losses by iteration '
                   'and metrics by epoch (default: loss bbox_mAP, leaving '
                   'out a panel that no log has)'),
    p.add_argument('--legend', nargs='+',
                   help='a name per curve, ordered log by log, key by key')
    p.add_argument('--title', help='figure title')
    p.add_argument('--out', default='curves.png',
                   help='output image (PNG/JPG/PDF); default curves.png')

    p = sub.add_parser('cal_train_time', help='time per training iteration')
    p.add_argument('json_logs', nargs='+',
                   help='scalars.json files or work dirs')
    p.add_argument('--include-outliers', action='store_true',
                   help='keep the first logged window of every epoch')

    p = sub.add_parser('summary', help='first and last value of metrics')
    p.add_argument('work_dir', help='work dir holding timestamped runs')
    p.add_argument('--keys', nargs='+',
                   default=['bbox_mAP', 'bbox_mAP_50'],
                   help='metrics to report (with or without their prefix)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    task = dict(plot_curve=plot_curve, cal_train_time=cal_train_time,
                summary=summary)[args.task]
    return task(args)


if __name__ == '__main__':
    main()
