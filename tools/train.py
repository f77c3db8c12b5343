"""Train a detector with mmengine's Runner (mmdetection-compatible CLI).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|CKPT]]
        [--amp [--amp-dtype bfloat16]] [--auto-scale-lr]
        [--cfg-options k=v ...]
        [--launcher none|pytorch|slurm]

Multi-process: ``tools/dist_train.sh CONFIG N`` (torchrun). Without a GPU the
processes communicate through gloo (see ``crossdino.utils.dist``).

SIGINT (Ctrl-C) or SIGTERM (SLURM preemption) stops training after the current
iteration with a resumable checkpoint (exit status 130 / 143); ``--resume``
continues from it inside the epoch (``crossdino.engine.loops``).
"""
import argparse
import importlib.util
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
# Standard library only, loaded by path: the arguments are checked before
# torch and mmdet are imported (crossdino/__init__ imports both).
_spec = importlib.util.spec_from_file_location(
    'crossdino_cli', osp.join(ROOT, 'crossdino', 'utils', 'cli.py'))
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument(
        'config', type=cli.existing_file('config file'),
        help='train config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint; without a value, from the '
        'latest checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--amp-dtype', choices=('float16', 'bfloat16'), default=None,
        help='autocast dtype of --amp: float16 (the default, unless the '
        "config's AmpOptimWrapper sets a dtype) or bfloat16; both with "
        "mmengine's dynamic loss scaler, which bf16 (fp32's range) does not "
        'need but tolerates')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by (GPUs x batch) / auto_scale_lr.base_batch_size')
    cli.add_runner_args(parser)
    return cli.parse_runner_args(parser, argv)


def build_cfg(args):
    from crossdino.utils import load_tool_config
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir,
                           args.launcher)

    if args.amp:
        if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            print('AMP is already enabled in the config.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        if args.amp_dtype is not None:
            cfg.optim_wrapper.dtype = args.amp_dtype
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    elif args.amp_dtype is not None:
        raise SystemExit('--amp-dtype needs --amp')

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise RuntimeError('--auto-scale-lr needs `auto_scale_lr = '
                               'dict(base_batch_size=...)` in the config')
        cfg.auto_scale_lr.enable = True

    if args.resume == 'auto':
        check_resumable(cfg.work_dir)
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if '://' not in args.resume and not osp.isfile(args.resume):
            raise SystemExit(f'--resume: checkpoint "{args.resume}" does not '
                             'exist')
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def check_resumable(work_dir: str) -> None:
    """Fail clearly when ``--resume`` finds nothing to resume in ``work_dir``.

    mmengine would log "Auto resumed from the latest checkpoint None." and
    train from scratch, over the work dir the user meant to continue.
    """
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        raise SystemExit(
            f'--resume: no checkpoint to resume from in work dir "{work_dir}" '
            '(it has no last_checkpoint file: nothing was saved there yet). '
            'Check --work-dir, pass a checkpoint (--resume PATH.pth), or drop '
            '--resume to start training.')
    with open(marker) as f:
        latest = f.read().strip()
    if '://' not in latest and not osp.isfile(latest):
        raise SystemExit(
            f'--resume: {marker} names "{latest}", which does not exist. '
            'Pass a checkpoint explicitly (--resume PATH.pth).')


def main(argv=None):
    args = parse_args(argv)  # a wrong path fails here, in a fraction of a second
    from crossdino.utils import build_runner
    from crossdino.utils.dist import process_group_teardown
    cfg = build_cfg(args)
    with process_group_teardown() as teardown:
        teardown.track(build_runner(cfg, args.launcher)).train()


if __name__ == '__main__':
    main()
