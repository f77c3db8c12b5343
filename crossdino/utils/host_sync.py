"""Find the host-device synchronisations of a forward pass on any device.

On a GPU, reading a tensor's value on the host (``.item()``, ``int(t)``,
``nonzero``, boolean-mask indexing, ``unique``) waits for every queued
kernel, and building a device tensor from Python data (``x.new_tensor(3)``,
``torch.tensor(...)``) is a blocking copy from pageable host memory. Both
stall the GPU's queue. :class:`HostSyncRecorder` records the ATen calls that
do either, on the CPU as well (where they cost nothing, so they go unnoticed
until the GPU run), which lets a CPU unit test fail on a new one::

    with HostSyncRecorder() as rec:
        module(x)
    assert rec.syncs == [], rec.syncs

It is a ``TorchDispatchMode``: it sees the ops that autograd and the Python
layer dispatch, so it also catches syncs inside library code. It cannot see
``.tolist()``, ``.cpu()`` or ``.numpy()`` of a CPU tensor (no ATen op runs),
so ``torch.cuda.set_sync_debug_mode('error')`` on a GPU stays the complete
check.
"""
import collections
import os
import sys
import traceback
import warnings
from typing import List

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

# Ops whose result needs values on the host (device -> host).
DEVICE_TO_HOST = {
    aten._local_scalar_dense.default,  # .item(), int(t), float(t), bool(t)
    aten.nonzero.default,
    aten.masked_select.default,
    aten._unique2.default,
    aten.unique_consecutive.default,
    aten.unique_dim.default,
    aten.bincount.default,  # output size read from the maximum
    aten.equal.default,
}
# Ops that sync when given a boolean (or uint8) mask as an index.
MASK_INDEXED = {aten.index.Tensor, aten.index_put.default,
                aten.index_put_.default, aten._index_put_impl_.default}
# Ops that move Python data into a tensor (host -> device copy on a GPU).
HOST_TO_DEVICE = {aten.lift_fresh.default, aten.lift_fresh_copy.default}


class HostSyncRecorder(TorchDispatchMode):
    """Records the host-device synchronising ATen ops called inside it.

    Attributes:
        syncs (list[str]): ``'<direction> <op>'`` per call, in order, with
            direction ``'d2h'`` or ``'h2d'``; boolean-mask indexing appears
            as ``'d2h aten.index.Tensor (bool mask)'``.
        sites (Counter[str]): the same calls counted by :func:`call_site`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.syncs: List[str] = []
        self.sites: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = None
        if func in DEVICE_TO_HOST:
            kind = f'd2h {func}'
        elif func in HOST_TO_DEVICE:
            kind = f'h2d {func}'
        elif (func is aten.repeat_interleave.Tensor
              and kwargs.get('output_size') is None):
            kind = f'd2h {func}'  # size read from the counts
        elif func in MASK_INDEXED and any(
                i is not None and i.dtype in (torch.bool, torch.uint8)
                for i in args[1]):
            kind = f'd2h {func} (bool mask)'
        if kind is not None:
            self.syncs.append(kind)
            self.sites[call_site(traceback.extract_stack())] += 1
        return func(*args, **kwargs)


# Frames that never make a sync themselves: torch, the warning machinery,
# this module, and crossdino's fp32 pass-through around mmcv's kernels (the
# caller, e.g. mmdet's focal loss, is the site).
_NOT_SITES = ('/torch/', '/warnings.py', '/utils/host_sync.py',
              '/layers/fp32_ops.py')


def call_site(stack: List[traceback.FrameSummary]) -> str:
    """The line that made a sync: the innermost frame of ``stack`` outside
    torch (and outside this module and ``warnings``), as
    ``'package/path.py:line'`` (``crossdino/...`` for the project's own
    code, the path under ``site-packages/`` for a library's)."""
    roots = sorted((p.replace(os.sep, '/').rstrip('/') + '/'
                    for p in sys.path if p), key=len, reverse=True)
    for frame in reversed(stack):
        path = frame.filename.replace(os.sep, '/')
        if any(part in path for part in _NOT_SITES):
            continue
        if '/crossdino/' in path and 'site-packages/' not in path:
            path = 'crossdino/' + path.rsplit('/crossdino/', 1)[1]
        elif 'site-packages/' in path:
            path = path.rsplit('site-packages/', 1)[1]
        else:  # a package on PYTHONPATH: relative to its import root
            path = next((path[len(r):] for r in roots
                         if path.startswith(r)), path)
        return f'{path}:{frame.lineno}'
    return '?'


class CudaSyncRecorder:
    """Counts the host syncs CUDA reports inside it, by call site.

    ``torch.cuda.set_sync_debug_mode('warn')`` makes every synchronising CUDA
    call (a device-to-host read, a blocking copy, a sync on the stream)
    warn; this records each with :func:`call_site` of the Python stack at
    that moment, so a GPU run names the line, in ``crossdino`` or in a
    library (mmdet's DINO has its own), that made it. torch hands a C++
    warning to Python when the torch call around it returns, so a sync inside
    an extension (mmcv's ops) is charged to the Python line that called the
    enclosing autograd function, and one in the backward pass to the line
    that called ``backward()``. It complements :class:`HostSyncRecorder`,
    which sees ATen ops on any device but not ``.cpu()`` / ``.tolist()``.

    Attributes:
        sites (Counter[str]): syncs per call site.
    """

    def __enter__(self) -> 'CudaSyncRecorder':
        self.sites = collections.Counter()
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        # every sync counts, not only a line's first (other warnings keep
        # their filters)
        warnings.filterwarnings('always', message='.*synchroniz')
        self._show = warnings.showwarning
        warnings.showwarning = self._record
        self._mode = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode('warn')
        return self

    def _record(self, message, category, filename, lineno, file=None,
                line=None):
        if 'synchroniz' not in str(message):
            return self._show(message, category, filename, lineno, file, line)
        self.sites[call_site(traceback.extract_stack()[:-1])] += 1

    def __exit__(self, *exc) -> None:
        torch.cuda.set_sync_debug_mode(self._mode)
        self._catch.__exit__(*exc)
