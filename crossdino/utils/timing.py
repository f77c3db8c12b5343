"""Timing and memory measurements shared by the benchmarks and analysis
tools (``tools/benchmarks``, ``tools/analysis_tools/benchmark.py``)."""
import contextlib
import os
import time
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
    step, device-independent, without allocator effects.

    Each storage is counted once, at its full size, for the first group
    that saves it (views share storage); the storages of ``params``'
    parameters are left out (weights are not activations).

    Args:
        groups (dict): name -> a module or a list of modules; nested
            modules take precedence over the ones they sit in.
        params (nn.Module): the model whose parameters to exclude.

    Yields:
        dict[str, int]: bytes per group name (filled as the block runs).
    """
    weights = {p.untyped_storage().data_ptr() for p in params.parameters()}
    seen = set()
    totals = dict.fromkeys([*groups, 'other'], 0)
    running = ['other']

    def enter(name):
        return lambda *_: running.append(name)  # None: input unchanged

    def leave(*_):
        running.pop()  # returns None: output unchanged

    handles = []
    for name, modules in groups.items():
        for module in ([modules] if isinstance(modules, nn.Module)
                       else modules):
            handles.append(module.register_forward_pre_hook(enter(name)))
            handles.append(module.register_forward_hook(leave))

    def pack(t):
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in weights and ptr not in seen and storage.nbytes():
            seen.add(ptr)
            totals[running[-1]] += storage.nbytes()
        return t

    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            yield totals
    finally:
        for h in handles:
            h.remove()
