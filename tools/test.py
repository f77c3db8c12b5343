"""Evaluate a checkpoint with mmengine's Runner (mmdetection-compatible CLI).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
        [--show-dir DIR] [--cfg-options k=v ...] [--launcher none|pytorch|slurm]
        [--vicrop]

Multi-process: ``tools/dist_test.sh CONFIG CHECKPOINT N``.
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


def _pickle_path(path: str) -> str:
    if not path.endswith(('.pkl', '.pickle')):
        raise argparse.ArgumentTypeError(f'"{path}" must end with .pkl or .pickle')
    return path


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a detector')
    parser.add_argument(
        'config', type=cli.existing_file('config file'),
        help='test config file path')
    parser.add_argument(
        'checkpoint', type=cli.existing_file('checkpoint'),
        help='checkpoint file')
    parser.add_argument(
        '--out', type=_pickle_path,
        help='dump predictions to a pickle file (.pkl or .pickle)')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory (inside the work dir) where images with predicted '
        'boxes are written')
    parser.add_argument(
        '--score-thr', type=float, default=0.3,
        help='score threshold of the drawn boxes')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--vicrop', action='store_true',
        help='ViCrop-Det test-time cropping: wrap the model in '
        'ViCropTTAModel with the config\'s `vicrop` settings (defaults where '
        'it has none); a config with a `vicrop` dict, or --cfg-options '
        'vicrop.KEY=VALUE, implies it')
    cli.add_runner_args(parser)
    return cli.parse_runner_args(parser, argv)


def trigger_visualization_hook(cfg, args):
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise RuntimeError('--show/--show-dir need a "visualization" hook '
                           '(DetVisualizationHook) in default_hooks')
    vis = hooks['visualization']
    vis['draw'] = True
    vis['score_thr'] = args.score_thr
    if args.show:
        vis['show'] = True
        vis['wait_time'] = args.wait_time
    if args.show_dir:
        vis['test_out_dir'] = args.show_dir
    return cfg


def build_cfg(args):
    from crossdino.utils import load_tool_config
    cfg = load_tool_config(args.config, args.cfg_options, args.work_dir,
                           args.launcher)
    cfg.load_from = args.checkpoint
    # the settings live in the config's `vicrop` dict: a config (or
    # --cfg-options vicrop.*) that has one tests with ViCrop
    if args.vicrop or cfg.get('vicrop') is not None:
        from crossdino.models.tta import wrap_config_with_vicrop
        cfg = wrap_config_with_vicrop(cfg)
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.out is not None:
        evaluators = cfg.test_evaluator
        if isinstance(evaluators, dict):
            evaluators = [evaluators]
        cfg.test_evaluator = list(evaluators) + [
            dict(type='DumpDetResults', out_file_path=args.out)
        ]
    return cfg


def main(argv=None):
    args = parse_args(argv)  # a wrong path fails here, in a fraction of a second
    from crossdino.utils import build_runner
    from crossdino.utils.dist import process_group_teardown
    cfg = build_cfg(args)
    with process_group_teardown() as teardown:
        return teardown.track(build_runner(cfg, args.launcher)).test()


if __name__ == '__main__':
    main()
