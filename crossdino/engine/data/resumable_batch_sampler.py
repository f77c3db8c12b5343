"""A batch sampler that can start its next epoch k batches in.

Resuming in the middle of an epoch must not load the batches that were
already trained: loading them costs time, and (with workers) it is the
loader, not the training loop, that would have to throw them away. Skipping
at the batch-sampler level means the skipped indices never reach the dataset
or the workers, and the remaining batches are exactly those of the
uninterrupted epoch (skipping sample indices instead would regroup them, e.g.
in mmdet's ``AspectRatioBatchSampler``).
"""
from contextlib import contextmanager
from itertools import islice
from typing import Iterator, List, Optional, Union

from torch.utils.data import BatchSampler, Sampler

from mmdet.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class ResumableBatchSampler(Sampler[List[int]]):
    """Wrap a batch sampler so that its next epoch can skip its first batches.

    The wrapped sampler still computes the full epoch (index order and
    batching depend on the sampler's epoch and seed only); inside
    :meth:`skipping` its first ``k`` batches are consumed without being
    yielded. ``len()`` stays the full
    epoch, which mmengine's loops use for ``max_iters``.

    Built by ``Runner.build_dataloader`` like any batch sampler, with
    ``sampler`` and ``batch_size`` as default arguments.

    Args:
        sampler: The sample sampler (``DefaultSampler``, ...).
        batch_size: Samples per batch.
        batch_sampler: Config of the wrapped batch sampler (built with the
            same ``sampler`` and ``batch_size``), or None for torch's
            ``BatchSampler``, what ``DataLoader`` builds without one.
        drop_last: ``drop_last`` of torch's ``BatchSampler`` (only without
            ``batch_sampler``; a batch sampler config has its own).
    """

    def __init__(self,
                 sampler: Sampler,
                 batch_size: int,
                 batch_sampler: Optional[Union[dict, BatchSampler]] = None,
                 drop_last: bool = False) -> None:
        if batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        elif isinstance(batch_sampler, dict):
            batch_sampler = DATA_SAMPLERS.build(
                batch_sampler,
                default_args=dict(sampler=sampler, batch_size=batch_size))
        super().__init__()
        self.batch_sampler = batch_sampler
        self._skip = 0

    @property
    def sampler(self) -> Sampler:
        # mmengine's DistSamplerSeedHook sets the epoch through
        # `dataloader.batch_sampler.sampler`.
        return self.batch_sampler.sampler

    @property
    def batch_size(self) -> int:
        return self.batch_sampler.batch_size

    @contextmanager
    def skipping(self, num_batches: int) -> Iterator[None]:
        """Iterators created inside the block skip ``num_batches`` batches.

        A block rather than a one-shot flag: torch's multi-process loader
        iterator calls ``iter()`` on its batch sampler twice while it is
        built (once in the base class, once in ``_reset``), and only the
        second iterator is used.

        Example::

            with batch_sampler.skipping(k):
                batches = iter(dataloader)
        """
        if not 0 <= num_batches <= len(self):
            raise ValueError(f'cannot skip {num_batches} of the {len(self)} '
                             'batches of an epoch')
        self._skip = num_batches
        try:
            yield
        finally:
            self._skip = 0

    def __iter__(self) -> Iterator[List[int]]:
        return islice(iter(self.batch_sampler), self._skip, None)

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __getattr__(self, name: str):
        if name in ('batch_sampler', '_skip') or name.startswith('__'):
            raise AttributeError(name)
        return getattr(self.batch_sampler, name)
