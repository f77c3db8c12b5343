"""Compare detector variants at an equal training budget over several seeds.

The proxy benchmark's yardstick: every variant is trained with
``tools/train.py`` on the same data, for the same number of epochs, once per
seed, then evaluated with ``tools/test.py``. The tool writes, under
``--work-dir``:

* ``<name>.md`` and ``<name>.json``: per variant the mean and standard
  deviation over seeds of mAP, AP50, AP_vt, AP_t, AP_s, AR_vt (AR at the
  metric's detection limit), the wall time of a run, parameters and GFLOPs
  at the benchmark's input size; and each variant's difference to the first
  row, paired by seed, with a 95 % Student-t interval over the seeds;
* ``<name>.png``: mAP and AP_vt per variant with error bars (one standard
  deviation).

A variant is a name, a config and optional ``key=value`` overrides (as
``--cfg-options``); ``epochs=N`` changes that variant's budget. Suites hold
the standard comparisons (``--suite methods``, ``--suite sanity``)::

    # the proxy benchmark's first table (6 variants x 3 seeds, ~75 min)
    python tools/benchmarks/compare.py --suite methods --seeds 0 1 2
    # does the benchmark see a doubled budget and a broken model?
    python tools/benchmarks/compare.py --suite sanity --seeds 0 1 2
    # your own
    python tools/benchmarks/compare.py --name lr \\
        --variant dino configs/proxy/dino_r18_proxy.py \\
        --variant lr-x2 configs/proxy/dino_r18_proxy.py \\
            optim_wrapper.optimizer.lr=4e-4 --seeds 0 1 2
    # unattended
    nohup python tools/benchmarks/compare.py --suite methods > compare.log &

Runs resume: a finished run (``result.json`` beside its checkpoint, made
with the same command) is reused; an interrupted training continues from
its last checkpoint with ``--resume`` (crossdino's loop resumes exactly); a
run whose command changed starts again. ``--table-only`` rebuilds the
outputs from what exists. Before the first run the proxy data are
generated and the shared proxy DINO that every variant fine-tunes is
trained once
(``SETUP`` below; ``--no-setup`` skips both, for variants on other data).

``--epochs`` sets the budget: ``train_cfg.max_epochs`` and every epoch-based
scheduler's ``begin``/``end``/``milestones``/``T_max`` are scaled from the
config's own schedule, so the learning-rate decay keeps its place.
"""
import argparse
import hashlib
import json
import math
import os
import os.path as osp
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

PROXY = 'configs/proxy/'
SUITES = {
    # The issue-13 table: each method at the proxy's budget.
    'methods': [
        ('DINO', PROXY + 'dino_r18_proxy.py', []),
        ('DINO + Boost', PROXY + 'dino_r18_proxy_boost.py', []),
        ('DINO + CCTM', PROXY + 'dino_r18_proxy_cctm.py', []),
        ('Cross-DINO', PROXY + 'cross-dino_r18_proxy.py', []),
        ('HMPE-DINO', PROXY + 'hmpe-dino_r18_proxy.py', []),
        ('DINO + global ENACT', PROXY + 'dino_r18_proxy_global-enact.py', []),
    ],
    # Issue 14: the Table VII ladder with the proxy's backbone, the open
    # reading of the query selection, and the beta values of Table X.
    'cross-dino': [
        ('DINO', PROXY + 'dino_r18_proxy.py', []),
        ('DINO + Boost', PROXY + 'dino_r18_proxy_boost.py', []),
        ('DINO + CCTM', PROXY + 'dino_r18_proxy_cctm.py', []),
        ('Cross-DINO', PROXY + 'cross-dino_r18_proxy.py', []),
        ('DINO + CCTM, top-k on E_cf', PROXY + 'dino_r18_proxy_cctm.py',
         ['model.query_memory=cross']),
        ('DINO + Boost, beta 0.05', PROXY + 'dino_r18_proxy_boost.py',
         ['model.bbox_head.loss_cls.beta=0.05']),
        ('DINO + Boost, beta 0.25', PROXY + 'dino_r18_proxy_boost.py',
         ['model.bbox_head.loss_cls.beta=0.25']),
        ('DINO + Boost, beta 1', PROXY + 'dino_r18_proxy_boost.py',
         ['model.bbox_head.loss_cls.beta=1.0']),
    ],
    # Issue 16: HMPE as the paper specifies HIDQ (content queries at DINO's
    # class top-k), and without the content term (mask filter + MOHFE).
    'hmpe': [
        ('DINO', PROXY + 'dino_r18_proxy.py', []),
        ('HMPE-DINO', PROXY + 'hmpe-dino_r18_proxy.py', []),
        ('HMPE-DINO, no HIDQ content', PROXY + 'hmpe-dino_r18_proxy.py',
         ['model.hmpe.hidq_content=False']),
    ],
    # Issue 16: the Table 2 ladder at proxy scale (each row adds one part;
    # the proxy's decoder already has Table 4's 3 layers), and the heatmap
    # parts without Linear-Snake Conv.
    'hmpe-ladder': [
        ('DINO', PROXY + 'dino_r18_proxy.py', []),
        ('DINO + DSConv neck', PROXY + 'hmpe-dino_r18_proxy_dsconv.py', []),
        ('DINO + Linear-Snake neck', PROXY + 'hmpe-dino_r18_proxy_lsconv.py',
         []),
        # + mask filter and MOHFE, then + HIDQ; named as in the 'hmpe' suite
        # so that its runs are reused (a run's folder is its name)
        ('HMPE-DINO, no HIDQ content', PROXY + 'hmpe-dino_r18_proxy.py',
         ['model.hmpe.hidq_content=False']),
        ('HMPE-DINO', PROXY + 'hmpe-dino_r18_proxy.py', []),
        ('HMPE-DINO, no Linear-Snake', PROXY
         + 'hmpe-dino_r18_proxy_no-lsconv.py', []),
        # the paper's 3x1 / 1x3 strip instead of DSConv's 9
        ('HMPE-DINO, Linear-Snake K=3', PROXY + 'hmpe-dino_r18_proxy.py',
         ['model.neck.lsconv.kernel_size=3']),
        # Table 4 at proxy scale: does HMPE keep more of its accuracy with
        # one decoder layer fewer than DINO does?
        ('DINO, 2 decoder layers', PROXY + 'dino_r18_proxy_2dec.py', []),
        ('HMPE-DINO, 2 decoder layers', PROXY + 'hmpe-dino_r18_proxy_2dec.py',
         []),
    ],
    # What the benchmark must be able to see.
    'sanity': [
        ('DINO', PROXY + 'dino_r18_proxy.py', []),
        ('DINO, 2x budget', PROXY + 'dino_r18_proxy.py', ['epochs=4']),
        ('DINO, broken box loss', PROXY + 'dino_r18_proxy_broken.py', []),
    ],
}
# Run before the first variant, in order, unless their output exists:
# (what, output file or None, command). The data command returns at once
# when the data are up to date; the shared proxy DINO is trained once
# (configs/proxy/dino_r18_proxy_pretrain.py, ~12 min; every proxy variant
# fine-tunes from it) and resumes if interrupted.
SETUP = [
    ('proxy data', None,
     '{python} tools/dataset_converters/make_synthetic_visdrone.py '
     'data/proxy_aerial --profile aerial --train 200 --val 24'),
    ('shared proxy DINO', 'work_dirs/proxy_pretrain/epoch_8.pth',
     '{python} tools/train.py configs/proxy/dino_r18_proxy_pretrain.py '
     '--work-dir work_dirs/proxy_pretrain'),
    # the same DINO cut to 2 decoder layers (the *_2dec.py variants)
    ('shared proxy DINO, 2 decoder layers',
     'work_dirs/proxy_pretrain/epoch_8_2dec.pth',
     '{python} tools/model_converters/detr_decoder_depth.py '
     'work_dirs/proxy_pretrain/epoch_8.pth '
     'work_dirs/proxy_pretrain/epoch_8_2dec.pth --num-layers 2'),
]
PROXY_DATA_META = 'data/proxy_aerial/synthetic_meta.json'
INPUT_SHAPE = (288, 512)  # (H, W) of the proxy's network input
# (column, metric key as tools/test.py dumps it, without the 'coco/' prefix)
METRICS = [('mAP', 'bbox_mAP'), ('AP50', 'bbox_mAP_50'),
           ('AP_vt', 'bbox_AP_vt'), ('AP_t', 'bbox_AP_t'),
           ('AP_s', 'bbox_AP_s_aitod'), ('AR_vt', 'bbox_AR_vt')]
# Two-sided 95 % quantiles of Student's t by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447,
       7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131,
       20: 2.086, 30: 2.042, 60: 2.000, 120: 1.980}
RESULT = 'result.json'


def t95(df):
    """Two-sided 95 % Student-t quantile; between tabled degrees of freedom
    the next smaller one's (a slightly wider, conservative interval)."""
    return T95[max(k for k in T95 if k <= df)]


def mean_std(values):
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    if not values:
        return math.nan, math.nan
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std


def paired_interval(base, other):
    """Mean difference ``other - base`` over shared seeds and its 95 % t
    interval.

    Args:
        base, other (dict[int, float]): a metric per seed.

    Returns:
        dict: ``diff``, ``low``, ``high`` (NaN bounds for one seed) and
        ``n`` (the number of seeds both have).
    """
    seeds = sorted(set(base) & set(other))
    d = [other[s] - base[s] for s in seeds]
    if not d:
        return dict(diff=math.nan, low=math.nan, high=math.nan, n=0)
    mean, std = mean_std(d)
    if len(d) < 2:
        return dict(diff=mean, low=math.nan, high=math.nan, n=1)
    half = t95(len(d) - 1) * std / math.sqrt(len(d))
    return dict(diff=mean, low=mean - half, high=mean + half, n=len(d))


def slug(name):
    """A folder name: lower-case alphanumerics joined by single dashes."""
    keep = ''.join(c.lower() if c.isalnum() else '-' for c in name)
    return '-'.join(filter(None, keep.split('-'))) or 'variant'


def parse_variant(tokens):
    """``NAME CONFIG [key=value ...]`` -> (name, config, options)."""
    if len(tokens) < 2:
        raise ValueError(f'--variant {" ".join(tokens)}: expected NAME '
                         'CONFIG [key=value ...]')
    name, config, options = tokens[0], tokens[1], tokens[2:]
    bad = [o for o in options if '=' not in o]
    if bad:
        raise ValueError(f'--variant {name}: {bad[0]!r} is not key=value')
    return name, config, options


def split_budget(options, default_epochs):
    """Separate the tool's ``epochs=N`` from the config overrides."""
    epochs, rest = default_epochs, []
    for opt in options:
        key, value = opt.split('=', 1)
        if key == 'epochs':
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f'epochs={value}: expected an integer >= 1')
            epochs = int(value)
        else:
            rest.append(opt)
    return epochs, rest


def schedule_options(cfg, epochs):
    """``--cfg-options`` that set the budget to ``epochs``, scaling the
    config's epoch-based schedule with it.

    Args:
        cfg (dict-like): the loaded config (``train_cfg``, ``param_scheduler``).
        epochs (int): the new ``max_epochs``.
    """
    base = cfg['train_cfg']['max_epochs']
    scale = epochs / base

    def scaled(x):
        return int(math.floor(x * scale + 0.5))  # half up, not to even

    opts = [f'train_cfg.max_epochs={epochs}',
            # tools/test.py evaluates; a validation at the end would repeat it
            f'train_cfg.val_interval={epochs + 1}',
            f'default_hooks.checkpoint.interval={epochs}']
    schedulers = cfg.get('param_scheduler') or []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
        prefix = lambda i: 'param_scheduler'  # noqa: E731
    else:
        prefix = lambda i: f'param_scheduler.{i}'  # noqa: E731
    for i, sch in enumerate(schedulers):
        if not sch.get('by_epoch', True):
            continue
        for key in ('begin', 'end', 'T_max'):
            value = sch.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value):
                opts.append(f'{prefix(i)}.{key}={scaled(value)}')
        if sch.get('milestones'):
            # A decay at or after the last epoch would never happen.
            last = max(1, epochs - 1)
            ms = [min(max(1, scaled(m)), last) for m in sch['milestones']]
            opts.append(f'{prefix(i)}.milestones=[{",".join(map(str, ms))}]')
    return opts


def fingerprint(cmd_parts):
    return hashlib.sha1(json.dumps(cmd_parts).encode()).hexdigest()[:16]


def read_test_metrics(test_dir):
    """The metrics mmengine dumped for the latest ``tools/test.py`` run."""
    stamps = sorted(d for d in os.listdir(test_dir)
                    if osp.isfile(osp.join(test_dir, d, d + '.json')))
    if not stamps:
        raise FileNotFoundError(f'no test metrics under {test_dir}')
    with open(osp.join(test_dir, stamps[-1], stamps[-1] + '.json')) as f:
        raw = json.load(f)
    return {k.split('/', 1)[-1]: v for k, v in raw.items()}


def read_complexity(text):
    """Params (M) and GFLOPs from get_flops.py's output."""
    params = gflops = None
    for line in text.splitlines():
        if line.startswith('Params:'):
            params = float(line.split()[1])
        elif line.startswith('GFLOPs:'):
            gflops = float(line.split()[1])
    if params is None or gflops is None:
        raise ValueError('get_flops.py printed no Params/GFLOPs line')
    return params, gflops


def file_stamp(path):
    """Size and modification time of ``path`` relative to the repository
    (None when missing): what a run read, for its fingerprint."""
    try:
        st = os.stat(osp.join(ROOT, path))
    except OSError:
        return None
    return [path, st.st_size, int(st.st_mtime)]


def input_files(cfg):
    """Files a config's runs read besides code: annotation files, the
    checkpoint it starts from and a pretrained backbone."""
    files = []
    for loader in ('train_dataloader', 'test_dataloader'):
        ds = cfg.get(loader, {}).get('dataset', {})
        if ds.get('ann_file'):
            files.append(osp.join(ds.get('data_root') or '', ds['ann_file']))
    if cfg.get('load_from'):
        files.append(cfg['load_from'])
    init = cfg.get('model', {}).get('backbone', {}).get('init_cfg') or {}
    if isinstance(init, dict) and init.get('checkpoint'):
        files.append(init['checkpoint'])
    return files


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def git_commit():
    out = subprocess.run(['git', 'describe', '--always', '--dirty'],
                         cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() or None


class Runner:
    """Trains, tests and records the runs of one comparison."""

    def __init__(self, args):
        self.args = args
        self.python = args.python
        self.done_times = []
        self.commit = git_commit()

    def log(self, msg):
        print(f'[compare {time.strftime("%H:%M:%S")}] {msg}', flush=True)

    def call(self, cmd, log_path):
        """Run ``cmd`` from the repository root, output appended to
        ``log_path``; raise with the log's tail on failure.

        Ctrl-C and SIGTERM reach the tool and are waited for: crossdino's
        training loop then saves an interrupt checkpoint that the next call
        of this script resumes from.
        """
        if self.args.dry_run:
            print(' '.join(shlex.quote(c) for c in cmd))
            return
        env = dict(os.environ)
        env.setdefault('OMP_NUM_THREADS', str(os.cpu_count() or 1))
        with open(log_path, 'a') as log:
            log.write('$ ' + ' '.join(shlex.quote(c) for c in cmd) + '\n')
            log.flush()
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log,
                                    stderr=subprocess.STDOUT, env=env)
            previous = signal.signal(
                signal.SIGTERM,
                lambda *_: proc.send_signal(signal.SIGTERM))
            try:
                while True:
                    try:
                        rc = proc.wait()
                        break
                    except KeyboardInterrupt:
                        # a terminal's Ctrl-C reaches the whole process
                        # group; otherwise pass it on
                        proc.send_signal(signal.SIGINT)
                        rc = proc.wait()
                        raise
            finally:
                signal.signal(signal.SIGTERM, previous)
        if rc in (-signal.SIGTERM, 143):
            self.log(f'{cmd[1]} stopped by SIGTERM; rerun to resume')
            sys.exit(143)
        if rc != 0:
            with open(log_path) as f:
                tail = ''.join(f.readlines()[-15:])
            raise RuntimeError(f'{cmd[1]} exited {rc}; {log_path} ends:\n'
                               f'{tail}')

    def setup(self):
        """Run the :data:`SETUP` steps whose output is missing or was made
        from other data."""
        os.makedirs(self.args.work_dir, exist_ok=True)
        log_path = osp.join(self.args.work_dir, 'setup.log')
        data = previous = None
        for what, output, template in SETUP:
            cmd = shlex.split(template.format(python=self.python))
            if output is None:  # the data step: cheap, checks itself
                self.call(cmd, log_path)
                data = fingerprint(file_stamp(PROXY_DATA_META))
                continue
            if '--work-dir' not in cmd:
                # a file derived from the previous (training) step's output:
                # remade when missing or older than it
                assert previous, f'SETUP: {what} has no step before it'
                target, source = (osp.join(ROOT, f) for f in (output,
                                                              previous))
                if not osp.isfile(target) or (
                        osp.isfile(source)
                        and osp.getmtime(target) < osp.getmtime(source)):
                    self.log(f'setting up the {what} (log: {log_path})')
                    self.call(cmd, log_path)
                continue
            previous = output
            work = osp.join(ROOT, cmd[cmd.index('--work-dir') + 1])
            stamp = osp.join(work, 'data_fingerprint')
            made_from = self.read_text(stamp)
            if osp.isfile(osp.join(ROOT, output)) and made_from == data:
                continue
            if made_from != data and osp.isdir(work):
                shutil.rmtree(work)  # trained on other data
            elif self.checkpoint_exists(work):
                cmd.append('--resume')  # an interrupted earlier attempt
            self.log(f'setting up the {what} (log: {log_path})')
            os.makedirs(work, exist_ok=True)
            with open(stamp, 'w') as f:
                f.write(data)
            self.call(cmd, log_path)

    @staticmethod
    def read_text(path):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return None

    @classmethod
    def checkpoint_exists(cls, work):
        """Whether ``work``'s last_checkpoint names an existing file."""
        target = cls.read_text(osp.join(work, 'last_checkpoint'))
        return bool(target) and osp.isfile(target)

    def run_dir(self, variant, seed):
        return osp.join(self.args.work_dir, slug(variant['name']),
                        f'seed{seed}')

    def plan(self, variant, seed):
        """The train and test commands of one run and its fingerprint: the
        resolved config, the overrides and the files the run reads (not
        the interpreter's or the work dir's path)."""
        opts = variant['options'] + [f'randomness.seed={seed}']
        work = self.run_dir(variant, seed)
        train = [self.python, 'tools/train.py', variant['config'],
                 '--cfg-options'] + opts + ['--work-dir', work]
        test = [self.python, 'tools/test.py', variant['config'], None,
                '--work-dir', osp.join(work, 'test'), '--cfg-options'] + opts
        key = fingerprint([variant.get('cfg_hash'), train[2:-2],
                           [file_stamp(f) for f in variant.get('inputs', [])]])
        return work, train, test, key

    def load_result(self, variant, seed):
        """The finished result of this exact run, else None."""
        work, _, _, key = self.plan(variant, seed)
        try:
            with open(osp.join(work, RESULT)) as f:
                result = json.load(f)
        except (OSError, ValueError):
            return None
        return result if result.get('fingerprint') == key else None

    def run(self, variant, seed, index, total):
        """Train and test one run, or reuse its finished result."""
        result = self.load_result(variant, seed)
        if result is not None:
            self.log(f'[{index}/{total}] {variant["name"]} seed {seed}: '
                     'done earlier, reused')
            return result
        if self.args.dry_run:
            return self._run(variant, seed, index, total)
        # Two compare.py on one work dir (e.g. two suites sharing the DINO
        # row) must not train into the same folder.
        lock = self.run_dir(variant, seed) + '.lock'
        os.makedirs(osp.dirname(lock), exist_ok=True)
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            owner = self.read_text(lock)
            if owner and owner.isdigit() and pid_alive(int(owner)):
                raise RuntimeError(f'{lock}: being run by process {owner}; '
                                   'rerun later to collect it') from None
            os.remove(lock)  # left by a process that died
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        with os.fdopen(fd, 'w') as f:
            f.write(str(os.getpid()))
        try:
            result = self.load_result(variant, seed)  # finished meanwhile?
            return result or self._run(variant, seed, index, total)
        finally:
            os.remove(lock)

    def _run(self, variant, seed, index, total):
        work, train, test, key = self.plan(variant, seed)
        resume = (self.read_text(osp.join(work, 'fingerprint')) == key
                  and self.checkpoint_exists(work))
        if not resume and osp.isdir(work) and not self.args.dry_run:
            # another command's run (or a broken one): kept aside, not lost
            stale = f'{work}.stale'
            shutil.rmtree(stale, ignore_errors=True)
            os.replace(work, stale)
            self.log(f'{variant["name"]} seed {seed}: an earlier run with '
                     f'another command moved to {stale}')
        eta = ''
        if self.done_times:
            left = (total - index + 1) * statistics.fmean(self.done_times)
            eta = time.strftime('%H:%M', time.localtime(time.time() + left))
            eta = f', ETA {eta}'
        self.log(f'[{index}/{total}] {variant["name"]} seed {seed}: '
                 f'{"resuming" if resume else "training"}{eta}')
        if not self.args.dry_run:
            os.makedirs(work, exist_ok=True)
            with open(osp.join(work, 'fingerprint'), 'w') as f:
                f.write(key)
        log_path = osp.join(work, 'compare.log')
        start = time.perf_counter()
        self.call(train + (['--resume'] if resume else []), log_path)
        # After a resume only the last attempt is timed: flagged in the table.
        train_s = time.perf_counter() - start
        if self.args.dry_run:
            return None
        test[3] = self.read_text(osp.join(work, 'last_checkpoint'))
        start = time.perf_counter()
        self.call(test, log_path)
        test_s = time.perf_counter() - start
        metrics = read_test_metrics(osp.join(work, 'test'))
        result = dict(variant=variant['name'], seed=seed, fingerprint=key,
                      metrics=metrics, train_s=train_s, test_s=test_s,
                      resumed=resume, commit=self.commit,
                      train_cmd=train, test_cmd=test)
        tmp = osp.join(work, RESULT + '.tmp')
        with open(tmp, 'w') as f:
            json.dump(result, f, indent=1)
        os.replace(tmp, osp.join(work, RESULT))  # exists only when complete
        self.done_times.append(train_s + test_s)
        self.log(f'{variant["name"]} seed {seed}: mAP '
                 f'{metrics.get("bbox_mAP", math.nan):.4f}, AP_vt '
                 f'{metrics.get("bbox_AP_vt", math.nan):.4f} '
                 f'({train_s + test_s:.0f} s)')
        return result

    def complexity(self, variant):
        """(params M, GFLOPs) at the input size, cached per variant."""
        folder = osp.join(self.args.work_dir, slug(variant['name']))
        path = osp.join(folder, 'complexity.json')
        opts = variant['options']
        key = fingerprint([variant.get('cfg_hash'), opts, INPUT_SHAPE])
        cached = None
        if osp.isfile(path):
            with open(path) as f:
                cached = json.load(f)
        if cached and cached.get('fingerprint') == key:
            return cached['params_m'], cached['gflops']
        if self.args.dry_run or self.args.table_only:
            return None, None
        cmd = [self.python, 'tools/analysis_tools/get_flops.py',
               variant['config'], '--shape', *map(str, INPUT_SHAPE)]
        if opts:
            cmd += ['--cfg-options'] + opts
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        try:
            if out.returncode != 0:
                raise ValueError(out.stderr.strip().splitlines()[-1:])
            params, gflops = read_complexity(out.stdout)
        except ValueError as e:
            self.log(f'{variant["name"]}: get_flops.py failed ({e}); '
                     'no GFLOPs')
            return None, None
        os.makedirs(folder, exist_ok=True)
        with open(path, 'w') as f:
            json.dump(dict(fingerprint=key, params_m=params, gflops=gflops),
                      f)
        return params, gflops


def aggregate(variants, results, complexity):
    """Per-variant statistics and paired differences to the first variant.

    Args:
        variants (list[dict]): with ``name``.
        results (dict[str, dict[int, dict]]): run results by variant name
            and seed (``metrics``, ``train_s``, ``test_s``).
        complexity (dict[str, tuple]): (params M, GFLOPs) by variant name.

    Returns:
        list[dict]: one row per variant, as written to the JSON file.
    """
    rows = []
    base = variants[0]['name']

    def per_seed(name, key):
        # COCOeval reports -1 for a size range without objects: no value.
        return {s: r['metrics'][key] for s, r in results[name].items()
                if r['metrics'].get(key, -1) >= 0}

    for v in variants:
        name = v['name']
        runs = results.get(name, {})
        row = dict(name=name, config=v['config'], options=v['options'],
                   seeds=sorted(runs), metrics={}, diff={})
        for col, key in METRICS:
            values = per_seed(name, key) if runs else {}
            m, s = mean_std(values.values())
            row['metrics'][col] = dict(mean=m, std=s, per_seed=values)
            if name != base and runs and results.get(base):
                row['diff'][col] = paired_interval(per_seed(base, key),
                                                   values)
        row['wall_s'] = dict(zip(('mean', 'std'), mean_std(
            r['train_s'] + r['test_s'] for r in runs.values())))
        row['wall_s']['partial'] = any(r.get('resumed') for r in runs.values())
        row['params_m'], row['gflops'] = complexity.get(name, (None, None))
        rows.append(row)
    return rows


def no_nan(obj):
    """``obj`` with NaN floats as None (JSON has no NaN)."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: no_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [no_nan(v) for v in obj]
    return obj


def fmt(x, digits=4):
    return '-' if x is None or (isinstance(x, float) and math.isnan(x)) \
        else f'{x:.{digits}f}'


def markdown(title, rows, command):
    """The results table and the paired-difference table."""
    cols = [c for c, _ in METRICS]
    # 4 decimals: on the proxy, AP_vt differences live in the third.
    lines = [f'### {title}', '',
             'Mean ± standard deviation over seeds; wall time per run '
             '(train + test; * where a resumed run timed only its last '
             'attempt).', '',
             '| variant | seeds | ' + ' | '.join(cols) +
             ' | wall (s) | params (M) | GFLOPs |',
             '|---|---|' + '---|' * (len(cols) + 3)]
    for r in rows:
        # one seed has no spread to show
        cells = [fmt(r['metrics'][c]['mean']) +
                 (f' ± {fmt(r["metrics"][c]["std"])}'
                  if len(r['metrics'][c]['per_seed']) > 1 else '')
                 for c in cols]
        lines.append(f'| {r["name"]} | {len(r["seeds"])} | ' +
                     ' | '.join(cells) +
                     f' | {fmt(r["wall_s"]["mean"], 0)}'
                     f'{"*" if r["wall_s"]["partial"] else ""} | '
                     f'{fmt(r["params_m"], 2)} | {fmt(r["gflops"], 2)} |')
    if len(rows) > 1:
        n_max = max(len(r['seeds']) for r in rows)
        lines += ['', f'Difference to {rows[0]["name"]}, paired by seed: '
                  'mean [95 % t interval]; **bold** where the interval '
                  'excludes 0; (n=k) where fewer than '
                  f'{n_max} seeds pair up.', '',
                  '| variant | ' + ' | '.join(cols) + ' |',
                  '|---|' + '---|' * len(cols)]
        for r in rows[1:]:
            cells = []
            for c in cols:
                d = r['diff'].get(c)
                if not d or d['n'] == 0:
                    cells.append('-')
                    continue
                text = f'{d["diff"]:+.4f} [{fmt(d["low"])}, {fmt(d["high"])}]'
                if d['n'] > 1 and (d['low'] > 0 or d['high'] < 0):
                    text = f'**{text}**'
                if d['n'] < n_max:
                    text += f' (n={d["n"]})'
                cells.append(text)
            lines.append(f'| {r["name"]} | ' + ' | '.join(cells) + ' |')
    lines += ['', f'Command: `{command}`', '']
    return '\n'.join(lines)


def plot(rows, path, title):
    """mAP and AP_vt per variant, error bars one standard deviation."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = [r['name'] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.2 * len(rows), 4))
    for ax, col in zip(axes, ('mAP', 'AP_vt')):
        means = [r['metrics'][col]['mean'] for r in rows]
        stds = [r['metrics'][col]['std'] for r in rows]
        ax.bar(range(len(rows)), means, yerr=stds, capsize=4,
               color=['0.55'] + ['tab:blue'] * (len(rows) - 1))
        for i, r in enumerate(rows):  # the seeds themselves
            vals = list(r['metrics'][col]['per_seed'].values())
            ax.plot([i] * len(vals), vals, 'k.', ms=4)
        ax.set_xticks(range(len(rows)), names, rotation=30, ha='right')
        ax.set_title(col)
        ax.grid(axis='y', alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.split('\n')[1:]))
    p.add_argument('--suite', choices=sorted(SUITES),
                   help='a standard set of variants')
    p.add_argument('--variant', nargs='+', action='append', default=[],
                   metavar='NAME CONFIG [key=value]',
                   help='a variant (repeatable; after the suite\'s)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--epochs', type=int, default=None,
                   help="training budget (default: the first config's "
                   'max_epochs)')
    p.add_argument('--name', default=None,
                   help='output file stem (default: the suite, else '
                   '"compare")')
    p.add_argument('--work-dir', default='work_dirs/proxy')
    p.add_argument('--no-setup', action='store_true',
                   help='do not prepare the proxy data and backbone '
                   'initialisation')
    p.add_argument('--python', default=sys.executable,
                   help='interpreter for the tools')
    p.add_argument('--no-flops', action='store_true',
                   help='skip parameters / GFLOPs')
    p.add_argument('--table-only', action='store_true',
                   help='rebuild the outputs from finished runs')
    p.add_argument('--dry-run', action='store_true',
                   help='print the commands')
    args = p.parse_args(argv)
    if not args.suite and not args.variant:
        p.error('give --suite or at least one --variant')
    if any(s < 0 for s in args.seeds) or len(set(args.seeds)) != len(
            args.seeds):
        p.error(f'--seeds: expected distinct seeds >= 0, got {args.seeds}')
    if args.epochs is not None and args.epochs < 1:
        p.error('--epochs: expected >= 1')
    args.work_dir = osp.abspath(args.work_dir)
    return args


def build_variants(args):
    """Variants with their complete ``--cfg-options`` (budget included)."""
    from mmengine.config import Config
    specs = list(SUITES[args.suite]) if args.suite else []
    for tokens in args.variant:
        specs.append(parse_variant(tokens))
    names = [s[0] for s in specs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f'variant names must differ: {sorted(dup)}')
    slugs = [slug(n) for n in names]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f'variant names map to the same folder: {names}')
    variants, default_epochs = [], args.epochs
    for name, config, options in specs:
        if not osp.isfile(osp.join(ROOT, config)):
            raise FileNotFoundError(f'variant {name}: no config {config}')
        cfg = Config.fromfile(osp.join(ROOT, config))
        if default_epochs is None:
            default_epochs = cfg['train_cfg']['max_epochs']
        epochs, opts = split_budget(options, default_epochs)
        variants.append(dict(
            name=name, config=config, epochs=epochs,
            options=schedule_options(cfg, epochs) + opts,
            cfg_hash=hashlib.sha1(cfg.pretty_text.encode()).hexdigest(),
            inputs=input_files(cfg)))
    return variants


def main(argv=None):
    args = parse_args(argv)
    try:
        variants = build_variants(args)
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f'compare.py: error: {e}')
    name = args.name or args.suite or 'compare'
    runner = Runner(args)
    if not (args.no_setup or args.table_only):
        try:
            runner.setup()
        except RuntimeError as e:
            sys.exit(f'compare.py: error: {e}')
    results = {v['name']: {} for v in variants}
    total = len(variants) * len(args.seeds)
    index = 0
    # Seed-major order: after each seed every variant has a paired result.
    for seed in args.seeds:
        for v in variants:
            index += 1
            if args.table_only:
                res = runner.load_result(v, seed)
                if res is not None:
                    results[v['name']][seed] = res
                continue
            try:
                res = runner.run(v, seed, index, total)
            except Exception as e:  # noqa: BLE001  one bad run, not all
                runner.log(f'{v["name"]} seed {seed} FAILED: {e}')
                continue
            if res is not None:
                results[v['name']][seed] = res
    if args.dry_run:
        return 0
    complexity = {}
    if not args.no_flops:
        for v in variants:
            complexity[v['name']] = runner.complexity(v)
    rows = aggregate(variants, results, complexity)
    command = 'python tools/benchmarks/compare.py ' + ' '.join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
        if a != '--table-only')
    os.makedirs(args.work_dir, exist_ok=True)
    stem = osp.join(args.work_dir, name)
    text = markdown(name, rows, command)
    with open(stem + '.md', 'w') as f:
        f.write(text)
    with open(stem + '.json', 'w') as f:
        json.dump(no_nan(dict(name=name, command=command, seeds=args.seeds,
                              commit=runner.commit, rows=rows)), f, indent=1)
    if any(r['seeds'] for r in rows):
        plot(rows, stem + '.png', name)
    print(text)
    print(f'wrote {stem}.md, .json' +
          (', .png' if any(r['seeds'] for r in rows) else ''))
    missing = sum(len(args.seeds) - len(r['seeds']) for r in rows)
    return 1 if missing else 0


if __name__ == '__main__':
    sys.exit(main())
