"""Test-time wrappers: ViCrop-Det attention-entropy cropping and slicing."""
from .attention_entropy import (DecoderAttentionRecorder, deform_attn_sampling,
                                query_weights, spatial_attention_entropy,
                                splat_attention)
from .vicrop import (ViCropTTAModel, border_cut_mask, crop_to_image_boxes,
                     image_to_crop_boxes, merge_detections,
                     merge_detections_cross, score_windows, select_windows,
                     sliding_windows, uniform_windows, wrap_config_with_vicrop)

__all__ = [
    'DecoderAttentionRecorder', 'deform_attn_sampling', 'query_weights',
    'spatial_attention_entropy', 'splat_attention', 'ViCropTTAModel',
    'border_cut_mask', 'crop_to_image_boxes', 'image_to_crop_boxes',
    'merge_detections', 'merge_detections_cross', 'score_windows',
    'select_windows', 'sliding_windows', 'uniform_windows',
    'wrap_config_with_vicrop'
]
