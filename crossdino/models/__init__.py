"""Detectors, backbones, necks, heads, losses and layers of crossdino."""
from . import backbones  # noqa: F401
from . import losses  # noqa: F401
from . import necks  # noqa: F401
from . import dense_heads  # noqa: F401
from . import detectors  # noqa: F401
from . import task_modules  # noqa: F401
from . import tta  # noqa: F401
