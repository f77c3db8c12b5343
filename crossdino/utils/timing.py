"""Timing and memory measurements shared by the benchmarks and analysis
tools (``tools/benchmarks``, ``tools/analysis_tools/benchmark.py``)."""
import contextlib
import os
import time
import weakref
from typing import Callable, Dict, Iterator, Sequence, Union

import torch
import torch.nn as nn

__all__ = [
    'sync', 'timed', 'rss_bytes', 'count_params', 'record_decoder_queries',
    'saved_for_backward'
]


def sync(device: Union[str, torch.device]) -> None:
    """Wait for the device's queued kernels (no-op off CUDA)."""
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], device: Union[str, torch.device]) -> float:
    """Wall seconds of ``fn()``, synchronised before and after."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def rss_bytes() -> int:
    """Resident memory of this process now, in bytes (psutil when
    installed, else Linux ``/proc/self/statm``)."""
    try:
        import psutil
    except ImportError:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    return psutil.Process().memory_info().rss


def count_params(module: nn.Module) -> int:
    """Number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


def record_decoder_queries(model: nn.Module) -> dict:
    """Make a DETR's ``forward_decoder`` note its query count (matching
    plus denoising) in the returned dict's ``'queries'`` at every call."""
    seen = {}
    forward_decoder = model.forward_decoder

    def counted(query, *args, **kwargs):
        seen['queries'] = query.shape[1]
        return forward_decoder(query, *args, **kwargs)

    model.forward_decoder = counted
    return seen


@contextlib.contextmanager
def saved_for_backward(groups: Dict[str, Union[nn.Module,
                                              Sequence[nn.Module]]],
                       params: nn.Module) -> Iterator[Dict[str, int]]:
    """Bytes of the tensors autograd saves for backward while the block
    runs, by the group of the innermost listed module that was running
    (``'other'`` outside all of them): the activation memory of a training
    step without allocator effects. What is saved depends on the kernels
    that run (e.g. fused attention saves less), hence on the device.

    Counted when the block ends, over the saved tensors still alive (a
    graph freed inside the block, such as a matching cost detached to the
    host, counts nothing); each storage once, at its full size, for the
    first group that saved it (views share storage); the storages of
    ``params``' parameters and buffers are left out (not activations).

    Args:
        groups (dict): name -> a module or a list of modules; nested
            modules take precedence over the ones they sit in.
        params (nn.Module): the model whose parameters and buffers to
            exclude.

    Yields:
        dict[str, int]: bytes per group name, filled when the block ends.
    """
    constant = {t.untyped_storage().data_ptr()
                for t in (*params.parameters(), *params.buffers())}
    totals = dict.fromkeys([*groups, 'other'], 0)
    saved = []  # (group, weak reference), in saving order
    running = ['other']

    def enter(name):
        return lambda *_: running.append(name)  # None: input unchanged

    def leave(*_):
        running.pop()  # returns None: output unchanged

    def pack(t):
        # detached: a node saving its own output would otherwise hold it in
        # a C++ reference cycle and never free its graph (no double
        # backward through the block)
        t = t.detach()
        saved.append((running[-1], weakref.ref(t)))
        return t

    handles = []
    try:
        for name, modules in groups.items():
            for module in ([modules] if isinstance(modules, nn.Module)
                           else modules):
                handles.append(module.register_forward_pre_hook(enter(name)))
                handles.append(module.register_forward_hook(leave))
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            yield totals
        seen = set(constant)
        for name, ref in saved:
            t = ref()
            if t is None:
                continue
            storage = t.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                totals[name] += storage.nbytes()
    finally:
        for h in handles:
            h.remove()
