"""crossdino: small-object detection with DETR-family detectors on mmdetection 3.x.

Importing the package registers every module into mmdet's registries (configs
load it with ``custom_imports = dict(imports=['crossdino'])``) and makes
mmengine checkpoints loadable under ``torch.load(weights_only=True)``.
"""
from .utils import register_checkpoint_safe_globals

register_checkpoint_safe_globals()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__version__ = '0.1.0'
