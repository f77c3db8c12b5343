"""Building blocks shared by crossdino models."""
from .clap import (CLAP_MODES, ClapLayout, clap_apply, clap_merge,
                   clap_partition, clap_window_table, window_plan,
                   window_starts)

__all__ = [
    'CLAP_MODES', 'ClapLayout', 'clap_apply', 'clap_merge', 'clap_partition',
    'clap_window_table', 'window_plan', 'window_starts'
]
