"""Tests for :mod:`crossdino.utils.timing` (shared by the benchmarks)."""
import time

import torch.nn as nn

from crossdino.utils.timing import count_params, rss_bytes, sync, timed


def test_count_params_and_rss():
    assert count_params(nn.Linear(3, 2)) == 3 * 2 + 2
    before = rss_bytes()
    block = bytearray(64 * 2**20)
    block[::4096] = b'\x01' * len(block[::4096])  # touch every page
    assert rss_bytes() - before > 48 * 2**20
    del block


def test_timed_measures_the_call_and_sync_is_a_noop_on_cpu():
    sync('cpu')
    assert 0.05 <= timed(lambda: time.sleep(0.05), 'cpu') < 1.0
