"""Loading mmengine checkpoints under ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it only
unpickles tensors, containers and an allow-list of classes. mmengine 0.10.7
calls ``torch.load`` without ``weights_only``, and its own checkpoints hold a
few objects outside the default allow-list (``HistoryBuffer`` in the message
hub, numpy arrays and scalars in the log buffers and in the RNG state saved by
:class:`crossdino.engine.hooks.RandomStateHook`). Resume, ``load_from`` and
``tools/test.py`` therefore fail with ``Unsupported global``.

Instead of turning the safety off (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` or
``weights_only=False``, which would execute arbitrary pickles), we add exactly
those classes to torch's allow-list. Any other global in a file is still
refused.

The local-file loader is also wrapped so that a truncated or corrupt file
fails with a message that names the file and says what to do.
"""
import os.path as osp
import pickle

import numpy as np
import torch

_REGISTERED = False


def _numpy_safe_globals() -> list:
    """numpy objects that ``np.save``-free pickling of arrays/scalars uses."""
    core = getattr(np, '_core', None) or np.core  # numpy 2.x / 1.x
    multiarray = core.multiarray
    safe = [np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar]
    # numpy >= 1.25 pickles dtypes by their concrete class (np.dtypes.Float64DType).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [
            cls for cls in vars(dtypes).values()
            if isinstance(cls, type) and issubclass(cls, np.dtype)
        ]
    # Scalar types appear as the argument of `multiarray.scalar`.
    safe += sorted({np.dtype(c).type for c in np.typecodes['All'] if c not in 'OSUV'},
                   key=lambda t: t.__name__)
    return safe


def _history_buffer_method(owner, name: str):
    """Stand-in for ``getattr`` that only resolves HistoryBuffer statistics.

    ``HistoryBuffer.__getstate__`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'min')`` etc. Allowing the real ``getattr`` would
    let a crafted file reach any attribute of any allowed object; this one
    answers for that single use only.
    """
    from mmengine.logging import HistoryBuffer
    if owner is HistoryBuffer and name in ('min', 'max', 'current', 'mean'):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({owner!r}, {name!r}) is not allowed in a checkpoint')


def mmengine_safe_globals() -> list:
    """Globals found in checkpoints written by mmengine's Runner."""
    from mmengine.logging import HistoryBuffer
    return [HistoryBuffer, (_history_buffer_method, 'builtins.getattr'),
            (_history_buffer_method, '__builtin__.getattr')
            ] + _numpy_safe_globals()


def _load_local_checkpoint(filename, map_location=None):
    """mmengine's local loader with a clear error for unreadable files."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file "{filename}" does not exist')
    try:
        return torch.load(filename, map_location=map_location)
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        # torch reports truncation as "PytorchStreamReader failed reading zip
        # archive", which does not say which file or what to do about it.
        raise RuntimeError(
            f'checkpoint "{filename}" is corrupt or truncated and cannot be '
            f'loaded ({type(err).__name__}: {err}). Re-download or re-save '
            'it; an interrupted save leaves a partial file.') from err


def register_checkpoint_safe_globals() -> None:
    """Make mmengine checkpoints loadable with ``weights_only=True``.

    Idempotent; called when :mod:`crossdino` is imported.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:  # torch >= 2.4
        add_safe_globals(mmengine_safe_globals())
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_local_checkpoint, force=True)
    _REGISTERED = True
