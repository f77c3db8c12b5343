"""Tests for :mod:`crossdino.utils.timing` (shared by the benchmarks)."""
import mmap
import time

import torch
import torch.nn as nn

from crossdino.utils.timing import (count_params, rss_bytes,
                                    saved_for_backward, sync, timed)


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


def test_saved_for_backward_by_group_hand_counted():
    """Linear saves its input, ReLU its output (which the next Linear saves
    again: one storage, counted once, for the first saver); weights and
    work outside any group are kept apart; a graph freed inside the block
    counts nothing; hooks go away afterwards."""
    net = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    x = torch.randn(4, 10)
    ref = torch.autograd.grad((net(x)**2).sum(), net[0].weight)[0]
    with saved_for_backward({'first': net[0], 'rest': [net[1], net[2]]},
                            net) as saved:
        loss = (net(x)**2).sum()  # pow saves net(x), outside every group
    assert saved == {'first': 4 * 10 * 4, 'rest': 4 * 20 * 4,
                     'other': 4 * 5 * 4}
    # the saved tensors are kept detached: gradients unchanged
    torch.testing.assert_close(
        torch.autograd.grad(loss, net[0].weight)[0], ref)
    # nested: the innermost running group wins; the outer gets the rest;
    # exp saves its output, but that graph is gone when the block ends
    with saved_for_backward({'all': net, 'relu': net[1]}, net) as saved:
        torch.randn(1000, requires_grad=True).exp().sum()
        out = net(x)
    assert saved == {'all': 4 * 10 * 4, 'relu': 4 * 20 * 4, 'other': 0}
    assert not any(m._forward_pre_hooks or m._forward_hooks
                   for m in net.modules())
    torch.testing.assert_close(net(x), out)  # outputs unchanged
