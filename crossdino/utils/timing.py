"""Timing and memory measurements shared by the benchmarks and analysis
tools (``tools/benchmarks``, ``tools/analysis_tools/benchmark.py``)."""
import os
import time
from typing import Callable, Union

import torch
import torch.nn as nn

__all__ = [
    'sync', 'timed', 'rss_bytes', 'count_params', 'record_decoder_queries'
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
