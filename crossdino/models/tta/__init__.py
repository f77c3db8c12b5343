"""Test-time wrappers: ViCrop-Det attention-entropy cropping, its controls
(uniform, random, oracle windows), merging and ACS-Free re-ranking."""
from .acs_free import (best_gt_iou, detection_head_entropy,
                       detection_queries, head_entropy, point_entropy,
                       rank_heads, spearman)
from .attention_entropy import (DecoderAttentionRecorder, deform_attn_sampling,
                                query_weights, spatial_attention_entropy,
                                splat_attention)
from .merge import (fuse_crop_scores, greedy_clusters, match_matrix,
                    merge_detections)
from .vicrop import (ViCropTTAModel, border_cut_mask, crop_to_image_boxes,
                     image_to_crop_boxes, wrap_config_with_vicrop)
from .windows import (missed_ground_truth, missed_objects, oracle_windows,
                      score_windows, select_windows, sliding_windows,
                      spread_order, uniform_windows, window_coverage,
                      window_map_sums)

__all__ = [
    'best_gt_iou', 'detection_head_entropy', 'detection_queries',
    'head_entropy', 'point_entropy', 'rank_heads', 'spearman',
    'DecoderAttentionRecorder', 'deform_attn_sampling', 'query_weights',
    'spatial_attention_entropy', 'splat_attention', 'fuse_crop_scores',
    'greedy_clusters', 'match_matrix', 'merge_detections', 'ViCropTTAModel',
    'border_cut_mask', 'crop_to_image_boxes', 'image_to_crop_boxes',
    'wrap_config_with_vicrop', 'missed_ground_truth', 'missed_objects',
    'oracle_windows', 'score_windows', 'select_windows', 'sliding_windows',
    'spread_order', 'uniform_windows', 'window_coverage', 'window_map_sums'
]
