"""Let the converter CLIs import ``crossdino.datasets`` without torch/mmdet.

``crossdino/__init__.py`` registers every model, which imports torch and
mmdet (about 10 s); the converters need numpy and PIL only. Run as scripts,
the CLIs call :func:`enter` first: it enters ``crossdino`` and
``crossdino.datasets`` as bare namespace packages whose ``__path__`` is the
script's own checkout, so that importing ``crossdino.datasets.converters.*``
executes only the converter modules of that checkout (installed or not).
Imported from Python (tests, user code), the CLIs import crossdino normally.
"""
import importlib.util
import sys
import types
from pathlib import Path

__all__ = ['enter']


def enter() -> None:
    """Make ``crossdino.datasets.*`` importable without ``crossdino``'s
    ``__init__`` (no-op when crossdino is already imported)."""
    if 'crossdino' in sys.modules:
        return
    pkg = Path(__file__).resolve().parents[2] / 'crossdino'
    if not (pkg / 'datasets' / 'converters').is_dir():
        # the tools folder was copied elsewhere: use the installed package
        spec = importlib.util.find_spec('crossdino')
        if spec is None or spec.origin is None:
            raise ImportError('crossdino is neither next to this script nor '
                              'installed')
        pkg = Path(spec.origin).parent
    for name, path in (('crossdino', pkg), ('crossdino.datasets',
                                            pkg / 'datasets')):
        module = types.ModuleType(name)
        module.__path__ = [str(path)]
        sys.modules[name] = module

