"""Run a trained detector on your own images (``tools/infer.py``)."""
from .inference import (IMAGE_EXTENSIONS, DetectionResult, list_images,
                        predict_images, to_coco_json)

__all__ = ['IMAGE_EXTENSIONS', 'DetectionResult', 'list_images',
           'predict_images', 'to_coco_json']
