"""Data-augmentation randomness as a function of (seed, epoch, sample index).

Why: a run interrupted in the middle of an epoch and resumed must draw the
same flips, crops and scales as the uninterrupted run. With mmengine's
defaults it cannot:

* the pipeline (``RandomFlip``, ``RandomResize``, ...) draws from the global
  ``random`` / ``numpy`` / ``torch`` generators of whatever process runs it;
* with ``num_workers > 0`` those are the workers' generators, seeded once
  when a worker starts (mmengine's ``worker_init_fn``). With
  ``persistent_workers=True`` (the real configs) the streams then run on
  across epochs, and which worker gets which batch depends on timing and on
  the worker count, so a resumed run, whose workers start afresh, draws other
  numbers;
* with ``num_workers=0`` the main process draws them, interleaved with the
  model's own draws (DINO's denoising noise, dropout): skipping the batches
  that were already trained would change both streams.

The alternatives were rejected: saving worker RNG states is impossible with
persistent workers (a worker's state is not reachable from the main process,
and prefetching means a worker is already ahead of the last trained batch);
replaying the skipped batches through the pipeline costs the data loading of
up to a whole epoch and still fails with workers.

So each sample gets its own generators: before ``dataset[index]`` the Python,
numpy and torch (CPU) generators are seeded from ``SeedSequence(seed,
spawn_key=(epoch, index))``, a counter-based hash designed for independent
streams, and put back afterwards. The augmentation of a sample then depends on
the run's seed, the epoch (so it still changes from epoch to epoch) and the
sample's index only: not on the worker that loads it, the number of workers,
their persistence, the batches skipped on resume or the model's draws in the
main process. Putting the generators back makes ``num_workers=0`` behave like
workers: the main-process streams that :class:`RandomStateHook` checkpoints
are those of the model alone.

The epoch (and seed) live in a small shared-memory array, written by the
training loop before it creates the epoch's iterator: persistent workers,
forked or spawned once, read the current epoch from it for every sample they
load.

Not covered: transforms that keep state across samples (mmdet's
``CachedMosaic`` / ``CachedMixUp`` caches depend on the order in which a
worker saw samples) and transforms holding a private generator created at
build time.
"""
import random
from contextlib import contextmanager
from multiprocessing.sharedctypes import RawArray
from typing import Iterator, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from mmdet.registry import DATASETS

_SEED, _EPOCH = 0, 1


@contextmanager
def sample_random_state(seed: int, epoch: int, index: int) -> Iterator[None]:
    """Seed the global generators for one sample, restore them on exit.

    Args:
        seed: The run's seed (``runner.seed``).
        epoch: The epoch being loaded (0-based).
        index: The sample's index in the dataset.
    """
    py_state = random.getstate()
    np_state = np.random.get_state()
    torch_state = torch.random.default_generator.get_state()
    # Distinct words per generator: Python's random.seed(int) and numpy's
    # seed(array) both feed MT19937's init_by_array, so equal words would
    # give the two modules the same stream.
    words = np.random.SeedSequence(
        seed % 2**64, spawn_key=(epoch, index)).generate_state(10, np.uint32)
    try:
        random.seed(int.from_bytes(words[:4].tobytes(), 'little'))
        np.random.seed(words[4:8])
        torch.random.default_generator.manual_seed(
            (int(words[8]) << 32) | int(words[9]))
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.random.default_generator.set_state(torch_state)


@DATASETS.register_module()
class SampleSeededDataset(Dataset):
    """Give every sample of ``dataset`` its own (seed, epoch, index) generators.

    :class:`~crossdino.engine.loops.ResumableEpochBasedTrainLoop` wraps its
    training set in this class itself; it may also be written in a config
    (``dataset=dict(type='SampleSeededDataset', dataset=dict(...))``), in
    which case the loop uses that one.

    Attribute reads that the wrapper does not answer go to the wrapped
    dataset (``metainfo``, ``get_data_info``, ``get_cat_ids``, ...), so
    samplers and hooks see the dataset they expect; ``pipeline`` can also be
    replaced through the wrapper (pipeline-switch hooks).

    Args:
        dataset: The dataset, or its config.
        seed: Initial seed; the training loop sets the run's seed with
            :meth:`set_seed` before the first epoch.
    """

    def __init__(self, dataset: Union[dict, Dataset], seed: int = 0) -> None:
        self.dataset = (DATASETS.build(dataset)
                        if isinstance(dataset, dict) else dataset)
        # Shared with the workers: forked ones share the mapping, spawned
        # ones receive it when the worker process is created.
        self._state = RawArray('q', 2)
        self._state[_SEED] = seed
        self._state[_EPOCH] = 0

    @property
    def seed(self) -> int:
        return self._state[_SEED]

    @property
    def epoch(self) -> int:
        return self._state[_EPOCH]

    def set_seed(self, seed: int) -> None:
        self._state[_SEED] = seed

    def set_epoch(self, epoch: int) -> None:
        """Set before the epoch's iterator is created (workers read it)."""
        self._state[_EPOCH] = epoch

    def __getitem__(self, index: int):
        with sample_random_state(self._state[_SEED], self._state[_EPOCH],
                                 index):
            return self.dataset[index]

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def metainfo(self) -> dict:
        return self.dataset.metainfo

    @property
    def pipeline(self):
        return self.dataset.pipeline

    @pipeline.setter
    def pipeline(self, pipeline) -> None:
        self.dataset.pipeline = pipeline

    def full_init(self) -> None:
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()

    def get_data_info(self, index: int) -> dict:
        return self.dataset.get_data_info(index)

    def __getattr__(self, name: str):
        # Only called for attributes the wrapper lacks. Unpickling (spawned
        # workers) looks attributes up before `dataset` is restored.
        if name in ('dataset', '_state') or name.startswith('__'):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.dataset!r})'
