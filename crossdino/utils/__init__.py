from .build import build_detector_offline, drop_pretrained, random_test_batch
from .checkpoint import register_checkpoint_safe_globals
from .config import (add_cfg_options_arg, add_runner_args, build_runner,
                     load_tool_config, parse_hw, parse_runner_args)
from .dist import setup_cpu_distributed
from .host_sync import CudaSyncRecorder, HostSyncRecorder
from .timing import count_params, rss_bytes, sync, timed

__all__ = [
    'CudaSyncRecorder', 'HostSyncRecorder', 'add_cfg_options_arg',
    'add_runner_args',
    'build_detector_offline',
    'build_runner', 'drop_pretrained', 'load_tool_config', 'parse_hw',
    'parse_runner_args', 'random_test_batch',
    'register_checkpoint_safe_globals', 'setup_cpu_distributed',
    'count_params', 'rss_bytes', 'sync', 'timed'
]
