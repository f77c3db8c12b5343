# Copyright (c) crossdino contributors. All rights reserved.
"""mmengine metrics registered in mmdet's ``METRICS``."""
from .tiny_coco_metric import TinyObjectCocoMetric

__all__ = ['TinyObjectCocoMetric']
