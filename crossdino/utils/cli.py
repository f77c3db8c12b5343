"""Argument checks that run before torch and mmdet are imported.

Importing torch, mmcv and mmdet takes 10-30 s on a busy machine; a tool that
imports them before it parses its arguments makes the user wait that long to
learn that a config path has a typo. This module uses the standard library
only. Tools load it by path, because importing ``crossdino.utils.cli``
through the package runs ``crossdino/__init__`` (every model, torch, mmdet)::

    spec = importlib.util.spec_from_file_location(
        'crossdino_cli', osp.join(ROOT, 'crossdino', 'utils', 'cli.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)

and parse their arguments before their heavy imports::

    def parse_args(argv=None):
        parser = argparse.ArgumentParser()
        parser.add_argument('config', type=cli.existing_file('config file'))
        cli.add_cfg_options_arg(parser)
        return parser.parse_args(argv)

    if __name__ == '__main__':
        parse_args()  # exits on a bad argument before the imports below

    import torch  # noqa: E402
"""
import argparse
import os
import os.path as osp
from typing import Callable, Optional, Sequence

__all__ = [
    'CFG_OPTIONS_HELP', 'NEW_KEY_PREFIX', 'LazyDictAction', 'add_cfg_options_arg',
    'add_runner_args', 'existing_file', 'parse_runner_args'
]

#: Prefix of a ``--cfg-options`` key that may be new (``+a.b=1``): the key is
#: merged without the check of :func:`crossdino.utils.config.check_cfg_options`.
NEW_KEY_PREFIX = '+'

CFG_OPTIONS_HELP = (
    'override config settings, key=value (a.b=1, list=[a,b], '
    'pipeline.2.scale=(640,480) for list items). Keys must exist in the '
    'config, except new arguments of a dict with a `type` '
    '(model.backbone.with_cp=True) or of a data loader, and mmengine Runner '
    'arguments (work_dir, load_from, resume, randomness, ...); a typo is an '
    f'error naming the closest key. Prefix a key with "{NEW_KEY_PREFIX}" to '
    f'add it anyway ({NEW_KEY_PREFIX}model.test_cfg.score_thr=0.3)')


def existing_file(kind: str = 'file',
                  root: Optional[str] = None,
                  keywords: Sequence[str] = ()) -> Callable[[str], str]:
    """An argparse ``type`` that accepts paths of existing files only.

    argparse reports a rejected value as ``argument NAME: <kind> "<path>"
    does not exist`` with the usage line, and exits with status 2.

    Args:
        kind (str): what the file is, for the message ('config file').
        root (str, optional): look for relative paths that do not exist
            from the working directory in this folder too (tools whose
            defaults are repository paths), and return absolute paths.
        keywords (Sequence[str]): values passed through unchecked, e.g.
            ``('auto', )`` for ``--resume``.
    """

    def check(path: str) -> str:
        if path in keywords:
            return path
        if osp.isfile(path):
            return path if root is None else osp.abspath(path)
        if root is not None and osp.isfile(osp.join(root, path)):
            return osp.join(root, path)
        if osp.isdir(path):
            raise argparse.ArgumentTypeError(
                f'{kind} "{path}" is a directory, not a file')
        raise argparse.ArgumentTypeError(f'{kind} "{path}" does not exist')

    return check


class LazyDictAction(argparse.Action):
    """mmengine's ``DictAction`` (``k=v`` pairs to a dict), imported when
    the option is given.

    ``mmengine.config`` imports torch; deferring it to the moment argparse
    meets e.g. ``--cfg-options`` keeps ``--help`` and the checks of the
    arguments before it (the config, the checkpoint) free of that cost.
    Values are parsed exactly as mmdetection's tools parse them.
    """

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction
        DictAction(self.option_strings, self.dest)(parser, namespace, values,
                                                   option_string)


def add_cfg_options_arg(parser: argparse.ArgumentParser) -> None:
    """mmdetection's ``--cfg-options k=v ...`` (a dict once parsed)."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=LazyDictAction,
        help=CFG_OPTIONS_HELP)


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """Arguments that tools/train.py and tools/test.py share with mmdet's."""
    parser.add_argument('--work-dir', help='the dir for logs, checkpoints '
                        'and metrics (default: ./work_dirs/<config name>)')
    add_cfg_options_arg(parser)
    parser.add_argument(
        '--partial-load',
        action='store_true',
        help='load a checkpoint (load_from, or the test checkpoint) whose '
        'keys or shapes differ from the model, e.g. to fine-tune a COCO model '
        'with another class count: matching tensors are loaded, the others '
        'keep their initialisation and are listed in a warning. Without it '
        '(or `partial_load = True` in the config) any missing, unexpected or '
        'reshaped key is an error. Resuming is always strict')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank / --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser, argv=None):
    """Parse the tool's arguments; ``--partial-load`` becomes the config key
    ``partial_load=True`` in ``args.cfg_options``."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if getattr(args, 'partial_load', False):
        args.cfg_options = {**(args.cfg_options or {}), 'partial_load': True}
    return args
