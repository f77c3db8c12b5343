from .checkpoint import register_checkpoint_safe_globals
from .config import load_tool_config
from .dist import setup_cpu_distributed

__all__ = [
    'register_checkpoint_safe_globals', 'load_tool_config',
    'setup_cpu_distributed'
]
