"""Tests for :mod:`crossdino.utils.timing` (shared by the benchmarks)."""
import mmap
import time

import torch.nn as nn

from crossdino.utils.timing import count_params, rss_bytes, sync, timed


def test_count_params_and_rss():
    assert count_params(nn.Linear(3, 2)) == 3 * 2 + 2
    # An anonymous mapping is never served from memory the allocator freed
    # earlier (a bytearray can be, and then RSS need not grow at all), so
    # touching its pages must add them to RSS; unmapping gives them back.
    size = 64 * 2**20
    before = rss_bytes()
    block = mmap.mmap(-1, size)
    try:
        for offset in range(0, size, mmap.PAGESIZE):
            block[offset] = 1
        grown = rss_bytes() - before
    finally:
        block.close()
    assert 48 * 2**20 < grown < 96 * 2**20
    assert rss_bytes() - before < 16 * 2**20


def test_timed_measures_the_call_and_sync_is_a_noop_on_cpu():
    sync('cpu')
    assert 0.05 <= timed(lambda: time.sleep(0.05), 'cpu') < 1.0
