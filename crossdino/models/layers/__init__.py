"""Building blocks shared by crossdino models."""
from .bounded_cdn_query_generator import (BoundedCdnQueryGenerator,
                                          select_dn_gts)
from .checkpoint_wrapper import checkpoint_wrapper, install_checkpoint_wrapper
from .clap import (CLAP_MODES, ClapLayout, clap_apply, clap_merge,
                   clap_partition, clap_window_table, window_plan,
                   window_starts)
from .enact_attention import (ENACTAttention, cluster_tokens,
                              gaussian_kernel1d, self_information,
                              sign_regions, smooth_and_sign)
from .fp32_ops import FP32MultiScaleDeformableAttnFunction, install_fp32_ops
from .heatmap_head import (HeatmapHead, gradient_weighted_heatmap,
                           heatmap_targets)
from .heatmap_positional_encoding import HeatmapPositionalEncoding
from .linear_snake_conv import (DynamicSnakeConv, LinearSnakeConv,
                                accumulate_offsets, snake_offset_bound,
                                snake_sample)

__all__ = [
    'BoundedCdnQueryGenerator', 'select_dn_gts', 'checkpoint_wrapper',
    'FP32MultiScaleDeformableAttnFunction',
    'CLAP_MODES', 'ClapLayout', 'clap_apply', 'clap_merge', 'clap_partition',
    'clap_window_table', 'window_plan', 'window_starts', 'ENACTAttention',
    'cluster_tokens', 'gaussian_kernel1d', 'self_information', 'sign_regions',
    'smooth_and_sign', 'DynamicSnakeConv', 'LinearSnakeConv',
    'accumulate_offsets', 'snake_offset_bound', 'snake_sample', 'HeatmapHead',
    'HeatmapPositionalEncoding', 'gradient_weighted_heatmap',
    'heatmap_targets'
]

install_checkpoint_wrapper()  # mmdet encoders: num_cp without fairscale
install_fp32_ops()  # mmcv has no bf16 CUDA kernels; fp16 blurs tiny objects
