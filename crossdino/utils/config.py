"""Config loading and arguments shared by the command-line tools."""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence, Tuple

from mmengine.config import Config, DictAction


def add_cfg_options_arg(parser: argparse.ArgumentParser) -> None:
    """mmdetection's ``--cfg-options k=v ...``."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value (a.b=1, list=[a,b])')


def parse_hw(shape: Sequence[int]) -> Tuple[int, int]:
    """``--shape H W`` (or one value for a square) as ``(height, width)``."""
    if len(shape) not in (1, 2):
        raise ValueError(f'--shape takes H W or one size, got {list(shape)}')
    height, width = (shape[0], shape[0]) if len(shape) == 1 else shape
    if height <= 0 or width <= 0:
        raise ValueError(f'--shape must be positive, got {list(shape)}')
    return height, width


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """Arguments that tools/train.py and tools/test.py share with mmdet's."""
    parser.add_argument('--work-dir', help='the dir for logs, checkpoints '
                        'and metrics (default: ./work_dirs/<config name>)')
    add_cfg_options_arg(parser)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank / --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser: argparse.ArgumentParser, argv=None):
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def load_tool_config(config: str,
                     cfg_options: Optional[dict] = None,
                     work_dir: Optional[str] = None,
                     launcher: str = 'none') -> Config:
    """Load ``config`` the way mmdetection's tools do.

    ``--cfg-options`` are merged first; the work dir is, in order of priority,
    ``work_dir``, the config's own ``work_dir``, ``./work_dirs/<config name>``.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file "{config}" does not exist')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    return cfg


def build_runner(cfg: Config, launcher: str = 'none'):
    """The Runner of ``cfg`` (``runner_type`` honoured), ready on CPU hosts.

    Multi-process runs without a GPU get a gloo process group first
    (:func:`crossdino.utils.setup_cpu_distributed`).
    """
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from .dist import setup_cpu_distributed
    setup_cpu_distributed(cfg, launcher)
    return (RUNNERS.build(cfg)
            if 'runner_type' in cfg else Runner.from_cfg(cfg))
