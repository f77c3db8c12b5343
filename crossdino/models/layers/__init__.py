"""Building blocks shared by crossdino models."""
from .clap import (CLAP_MODES, ClapLayout, clap_apply, clap_merge,
                   clap_partition, clap_window_table, window_plan,
                   window_starts)

__all__ = [
    'CLAP_MODES', 'ClapLayout', 'clap_apply', 'clap_merge', 'clap_partition',
    'clap_window_table', 'window_plan', 'window_starts'
]

from .enact_attention import (ENACTAttention, cluster_tokens,  # noqa: E402
                              gaussian_kernel1d, self_information,
                              sign_regions, smooth_and_sign)

__all__ += [
    'ENACTAttention', 'cluster_tokens', 'gaussian_kernel1d',
    'self_information', 'sign_regions', 'smooth_and_sign'
]
