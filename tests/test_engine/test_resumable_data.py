"""The data side of exact mid-epoch resume, on a toy dataset (no training).

What ``ResumableEpochBasedTrainLoop`` relies on: a sample's random draws are
a function of (seed, epoch, index) in the main process and in persistent
workers alike, the main process's generators are left alone, skipped batches
are never loaded, and workers ignore the signals the main process handles.
"""
import random
import signal

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset, SequentialSampler

from crossdino.engine.data import (ResumableBatchSampler, SampleSeededDataset,
                                   WorkerSignalGuard)


class DrawingDataset(Dataset):
    """Each item: its index, one draw from each global generator, and
    whether SIGINT is ignored in the process that loaded it."""

    def __len__(self):
        return 6

    def __getitem__(self, index):
        return (index, random.random(), float(np.random.rand()),
                float(torch.rand(1)),
                signal.getsignal(signal.SIGINT) is signal.SIG_IGN)


def draws(items):
    return [item[:4] for item in items]


def test_sample_draws_depend_on_seed_epoch_and_index_only():
    dataset = SampleSeededDataset(DrawingDataset(), seed=7)
    first = dataset[3]
    random.random(), np.random.rand(), torch.rand(1)  # unrelated draws
    assert dataset[3] == first
    assert len(set(first[1:4])) == 3  # three generators, three streams
    assert dataset[4][1:4] != first[1:4]
    dataset.set_epoch(1)
    assert dataset[3][1:4] != first[1:4]  # augmentations change per epoch
    dataset.set_epoch(0)
    dataset.set_seed(8)
    assert dataset[3][1:4] != first[1:4]

    # The caller's generators are left as they were.
    py, npy, tch = random.getstate(), np.random.get_state(), torch.get_rng_state()
    dataset[0]
    assert random.getstate() == py
    after = np.random.get_state()
    assert (after[1] == npy[1]).all() and after[2:] == npy[2:]
    assert torch.equal(torch.get_rng_state(), tch)


@pytest.mark.parametrize('num_workers', [0, 2])
def test_loader_resumes_mid_epoch_with_the_same_draws(num_workers):
    dataset = SampleSeededDataset(DrawingDataset(), seed=3)
    batch_sampler = ResumableBatchSampler(
        SequentialSampler(dataset), batch_size=2)
    loader = DataLoader(
        dataset, batch_sampler=batch_sampler, num_workers=num_workers,
        persistent_workers=num_workers > 0, collate_fn=list,
        worker_init_fn=WorkerSignalGuard() if num_workers else None)

    def epoch(index, skip=0):
        dataset.set_epoch(index)
        with batch_sampler.skipping(skip):
            batches = iter(loader)
        return [item for batch in batches for item in batch]

    def in_main_process(index, indices):
        dataset.set_epoch(index)
        return draws(dataset[i] for i in indices)

    epoch0 = epoch(0)
    assert draws(epoch0) == in_main_process(0, range(6))
    # The second epoch, resumed after its first batch: the 4 samples that
    # remain, with the second epoch's draws; the skipped ones never load.
    epoch1 = epoch(1, skip=1)
    assert [item[0] for item in epoch1] == [2, 3, 4, 5]
    assert draws(epoch1) == in_main_process(1, range(2, 6))
    assert draws(epoch1) != draws(epoch0[2:])
    # The skip was for one epoch only.
    assert [item[0] for item in epoch(2)] == list(range(6))
    assert len(loader) == 3
    if num_workers:
        assert all(item[4] for item in epoch0)  # SIGINT ignored in workers


def test_skip_is_bounded_by_the_epoch():
    batch_sampler = ResumableBatchSampler(SequentialSampler(range(6)), 4)
    assert len(batch_sampler) == 2 and batch_sampler.batch_size == 4
    with batch_sampler.skipping(2):
        assert list(batch_sampler) == []
    with pytest.raises(ValueError, match='cannot skip 3'):
        with batch_sampler.skipping(3):
            pass
